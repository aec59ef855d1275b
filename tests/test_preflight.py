"""The preflight: a run checks its programs and its LLM before any fetch or transcription,
and a problem is one line with the fix (the fake LLM server is the endpoint)."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import Config, LLMConfig
from pipeline.errors import LLMError, MissingDependencyError
from pipeline.preflight import check_llm, preflight
from pipeline.tools import require_tools
from tests.fixtures.flows import base_env, free_port, run_cli

SETUP = "set [llm] base_url and api_key in podpost.toml (or OPENAI_BASE_URL / OPENAI_API_KEY)"


def test_no_key(llm_config: LLMConfig, fake_llm):
    with pytest.raises(LLMError) as caught:
        check_llm(llm_config.model_copy(update={"api_key": None}))
    assert caught.value.one_line().startswith(f"no API key for the LLM endpoint; {SETUP}")
    assert caught.value.exit_code == 6
    assert fake_llm.model_listings == 0


def test_dead_endpoint():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMError) as caught:
        check_llm(LLMConfig(base_url=url, api_key="k"))
    assert caught.value.one_line().startswith(f"cannot reach the LLM endpoint {url}; {SETUP}")


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A host that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def test_silent_endpoint_fails_at_the_preflight_timeout(silent_url: str):
    with pytest.raises(LLMError) as caught:
        check_llm(LLMConfig(base_url=silent_url, api_key="k"), timeout=0.3)
    assert caught.value.one_line().startswith(
        f"the LLM endpoint {silent_url} did not answer within 0.3 s; {SETUP}"
    )


def test_rejected_key(llm_config: LLMConfig, fake_llm):
    fake_llm.api_key = "the-right-key"
    fake_llm.models = {"fake-model"}
    with pytest.raises(LLMError, match=r"rejected the API key \(401\)"):
        check_llm(llm_config)


def test_unknown_model_names_the_nearest_one(llm_config: LLMConfig, fake_llm):
    fake_llm.models = {"fake-model-2", "other"}
    with pytest.raises(LLMError) as caught:
        check_llm(llm_config)
    assert caught.value.one_line() == (
        f"the LLM endpoint {fake_llm.base_url} does not serve model 'fake-model' "
        "(it lists fake-model-2, other); did you mean 'fake-model-2'? set [llm] model "
        "(PODPOST_LLM__MODEL or --llm-model) to a model it serves"
    )
    assert fake_llm.requests() == []  # no chat request, no tokens


def test_listed_model_passes(llm_config: LLMConfig, fake_llm):
    fake_llm.models = {"fake-model", "other"}
    assert check_llm(llm_config) is True
    ollama = llm_config.model_copy(update={"model": "qwen2.5"})
    fake_llm.models = {"qwen2.5:latest"}
    assert check_llm(ollama) is True  # Ollama serves "qwen2.5" as "qwen2.5:latest"


def test_endpoint_that_does_not_list_models_passes_unverified(llm_config, fake_llm):
    fake_llm.models = {"something-else"}
    fake_llm.lists_models = False
    assert check_llm(llm_config) is False
    fake_llm.models = None  # any model served; the fake then does not list either
    assert check_llm(llm_config) is False
    assert fake_llm.model_listings == 2


def test_missing_programs():
    with pytest.raises(MissingDependencyError, match=r"ffprobe is not installed"):
        require_tools(which=lambda name: None if name == "ffprobe" else f"/usr/bin/{name}")
    with pytest.raises(MissingDependencyError, match=r"^ffmpeg .*`apt-get install ffmpeg`"):
        require_tools(which=lambda name: None)


# --- through the command line: nothing fetched, nothing transcribed, Prefect not started ---


def _cpu_seconds_of(run) -> tuple[object, float]:
    """Run ``run()`` (a subprocess) and return (its result, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.parametrize("problem", ["no key", "dead endpoint"])
@pytest.mark.parametrize("command", ["run", "ingest"])
def test_run_and_ingest_fail_before_any_work(problem, command, tmp_path: Path, media_server):
    name = f"preflight-{command}-{problem.replace(' ', '-')}"
    media = media_server.put(f"{name}/a.mp3", b"not fetched")
    env = base_env(tmp_path / "prefect-home")
    if problem == "dead endpoint":
        env.update(OPENAI_API_KEY="k", OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    else:  # no key and no endpoint would be the local model (tests/test_local_llm.py)
        env.update(PODPOST_LLM__PROVIDER="endpoint")
    data = tmp_path / "data"
    done, cpu = _cpu_seconds_of(
        lambda: run_cli(["--data-dir", str(data), command, media], env=env, timeout=120)
    )
    assert done.returncode == 6, done.stderr
    first = "no API key for" if problem == "no key" else "cannot reach"
    assert done.stderr.startswith(f"error: {first} the LLM endpoint")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert media_server.hits(f"{name}/a.mp3") == 0  # nothing fetched
    assert not (data / "episodes").exists()  # nothing transcribed
    assert not (tmp_path / "prefect-home").exists()  # Prefect not even started
    assert cpu < 10, f"podpost used {cpu:.1f} s of CPU before failing"


def test_resume_checks_the_llm_of_the_runs_it_resumes(tmp_path: Path, capsys, monkeypatch):
    """`resume EPISODE` preflights with the LLM settings the run started with."""
    from pipeline.config import Config
    from pipeline.db import open_state
    from pipeline.run.state import RunState, save_state

    for name in [n for n in os.environ if n.startswith(("PODPOST_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    folder = tmp_path / "episodes" / "ep1"
    folder.mkdir(parents=True)
    save_state(
        open_state(Config(data_dir=tmp_path)),
        RunState(
            episode_id="ep1",
            source="http://127.0.0.1:9/a.mp3",
            overrides={"llm": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}},
        ),
    )
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    from tests.cli_helpers import cli

    code, _out, err = cli(["--data-dir", str(tmp_path), "resume", "ep1"], capsys)
    assert code == 6
    assert err.startswith("error: cannot reach the LLM endpoint http://127.0.0.1:")


def test_preflight_passes_against_the_fake(llm_config: LLMConfig, fake_llm):
    fake_llm.models = {"fake-model"}
    preflight(Config(llm=llm_config))  # ffmpeg and ffprobe are installed where tests run
    assert fake_llm.model_listings == 1
