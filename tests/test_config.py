"""One typed config: defaults < TOML file < PODPOST_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import debug_requested, load_config, unknown_env
from pipeline.errors import ConfigError, UnknownBackendError
from pipeline.registry import Registry


def test_precedence(tmp_path: Path):
    file = tmp_path / "podpost.toml"
    file.write_text('data_dir = "/from/file"\n[llm]\nmodel = "file-model"\ntemperature = 0.5\n')
    env = {"PODPOST_LLM__MODEL": "env-model", "OPENAI_API_KEY": "sk-env"}
    config = load_config(file, env=env, overrides={"llm": {"temperature": None}})
    assert config.data_dir == Path("/from/file")
    assert (config.llm.model, config.llm.temperature, config.llm.api_key) == (
        "env-model",
        0.5,
        "sk-env",
    )
    flagged = load_config(file, env=env, overrides={"llm": {"model": "flag-model"}})
    assert flagged.llm.model == "flag-model"


def test_local_file_is_found_and_env_lists_parse(tmp_path: Path):
    (tmp_path / "podpost.toml").write_text('[editorial]\ntarget_language = "ja"\n')
    config = load_config(env={"PODPOST_TURNS__SPEAKERS": '["A", "B"]'}, cwd=tmp_path)
    assert config.editorial.target_language == "ja"
    assert config.turns.speakers == ["A", "B"]


def test_bad_setting_names_the_key(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"invalid setting llm\.max_concurrency"):
        load_config(env={"PODPOST_LLM__MAX_CONCURRENCY": "many"}, cwd=tmp_path)


def test_unknown_env_names_are_warnings_with_the_nearest_name(tmp_path: Path):
    env = {
        "PODPOST_LLM__COLOUR": "red",
        "PODPOST_LLM_MODEL": "typo-model",
        "PODPOST_LLM__MODEL": "env-model",
        "PODPOST_TURNS__SPEAKER_MAP__SPEAKER_0": "Ann",
        "PODPOST_DEBUG": "1",
        "PODPOST_CONFIG": "",
        "PODPOST_ZZZZZZZZ": "1",
        "OPENAI_API_KEY": "sk-env",
    }
    config = load_config(env=env, cwd=tmp_path)  # the unknown ones do not stop it
    assert config.llm.model == "env-model"
    assert config.turns.speaker_map == {"speaker_0": "Ann"}
    assert unknown_env(env) == [
        "PODPOST_LLM_MODEL is not a podpost setting and is ignored; "
        "did you mean PODPOST_LLM__MODEL?",
        "PODPOST_LLM__COLOUR is not a podpost setting and is ignored; "
        "did you mean PODPOST_LLM__MODEL?",
        "PODPOST_ZZZZZZZZ is not a podpost setting and is ignored",
    ]


def test_debug_variable_is_a_boolean():
    assert [debug_requested({"PODPOST_DEBUG": v}) for v in ("1", "true", "On", "0", "")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert debug_requested({}) is False


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_registry_lists_valid_names_for_an_unknown_one():
    registry: Registry[object] = Registry("ASR", "[asr] backend")
    registry.register("whisper")(object)
    registry.register("captions")(object)
    with pytest.raises(UnknownBackendError) as info:
        registry.get("whisperx")
    assert info.value.one_line() == (
        "unknown ASR backend 'whisperx'; set [asr] backend to one of: captions, whisper"
    )
    assert info.value.exit_code == 2
