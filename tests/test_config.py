"""One typed config: defaults < TOML file < PODPOST_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
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
    with pytest.raises(ConfigError, match=r"invalid setting llm\.colour"):
        load_config(env={"PODPOST_LLM__COLOUR": "red"}, cwd=tmp_path)


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
