"""A rerun of a finished episode starts from the settings it was made with; bad input is
not a run.

``podpost run SOURCE`` again with other flags keeps the overrides the episode's run.json
recorded and lays the new flags on top (redoing only the steps whose settings changed);
a rerun that fails keeps the transcript, the draft and its approval, and ``podpost
status`` says so; a new version of an approved draft goes beside it as a proposal. A
source that is no source (a path with no file) fails in one line and leaves no row in
``podpost status``; a real source whose fetch failed does, until it is fetched. Real
files, the captions backend, the fake LLM, and :func:`pipeline.run.episode.run_episode`
(what the episode flow wraps; the flow builds ``config`` from the flags the same way) and
the CLI in this process for ``approve`` and ``status`` (no Prefect server).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config, with_overrides
from pipeline.errors import LLMError, NetworkError, TranscriptionError, UsageError
from pipeline.run.episode import run_episode
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter
from pipeline.run.resume import rerun_overrides
from pipeline.testing.fakellm import FakeReply
from tests.cli_helpers import cli, run_record
from tests.fixtures.flows import GAP, LINES, captions_vtt


def _base(data: Path, base_url: str) -> Config:
    """What the config file and environment give; ``[asr] backend`` stays the default
    (whisper), as in the report: only the first run's flag said captions."""
    return Config(
        data_dir=data,
        diarize={"backend": "none"},
        llm={"base_url": base_url, "api_key": "test-key", "model": "fake-model",
             "max_retries": 0, "retry_initial_wait": 0.01, "retry_max_wait": 0.05},
    )  # fmt: skip


def _run(talk: Path, base: Config, flags: dict[str, Any]):
    """``podpost run talk --FLAGS`` as the flow does it: the Config from the flags, and the
    flags as the run's overrides."""
    out = io.StringIO()
    result = run_episode(
        str(talk),
        with_overrides(base, flags),
        overrides=flags,
        report=Reporter(stream=out, terminal=False),
    )
    return result, out.getvalue()


def _status(data: Path, capsys) -> dict[str, Any]:
    code, out, err = cli(["--data-dir", str(data), "status", "--json"], capsys)
    assert code == 0, err
    [row] = json.loads(out)
    return row


@pytest.mark.slow  # synthesised speech (cached after the first test session)
def test_a_rerun_keeps_the_episodes_settings_and_a_failed_one_keeps_its_draft(
    tmp_path: Path, audio, fake_llm, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    talk = tmp_path / "talk.mp3"
    shutil.copy(audio.speech(LINES[:2], fmt="mp3", gap=GAP), talk)
    talk.with_suffix(".vtt").write_text(captions_vtt(audio, LINES[:2]))
    data, site = tmp_path / "data", tmp_path / "site"
    site.mkdir()
    base = _base(data, fake_llm.base_url)
    made_with = {"asr": {"backend": "captions"}}

    first, _ = _run(talk, base, made_with)
    folder = data / "episodes" / first.episode_id
    draft = data / "drafts" / f"{first.episode_id}.md"
    assert first.draft.path == draft
    transcript = (folder / "transcript.json").read_bytes()
    approve = ["approve", str(draft), "--to", str(site), "--override"]  # the fake's front
    code, out, err = cli(["--data-dir", str(data), *approve], capsys)  # matter lacks values
    assert code == 0, err
    [published] = site.glob("*.md")
    approved_text = draft.read_text()

    # 1. a rerun with another flag only: the captions backend is kept (no whisper model to
    # load), the speaker count is added; only turns is redone (naming asks the LLM again),
    # and it comes out the same, so the translation is kept
    assert rerun_overrides(base, str(talk), None, {"diarize": {"num_speakers": 2}}) == {
        "asr": {"backend": "captions"},
        "diarize": {"num_speakers": 2},
    }
    asked = len(fake_llm.requests())
    again, said = _run(talk, base, {"diarize": {"num_speakers": 2}})
    assert again.skipped == ["fetch", "transcribe", "editorial"], said
    assert [r["task"] for r in fake_llm.requests()[asked:]] == ["speaker_names"]
    assert run_record(folder).overrides == {
        "asr": {"backend": "captions"},
        "diarize": {"num_speakers": 2},
    }
    assert (again.draft.path, again.draft.kept) == (draft, None)  # the same text
    row = _status(data, capsys)
    assert (row["state"], row["review"], row["draft"]) == ("done", "approved", str(draft))
    assert (row["published"], row["proposal"]) == (str(published), None)

    # 2. a rerun that fails (the LLM refuses the key): transcript, draft and approval stay,
    # and status shows the failure as the latest run beside them
    fake_llm.push(FakeReply.unauthorized())
    with pytest.raises(LLMError):
        _run(talk, base, {"editorial": {"target_language": "de"}})
    assert (folder / "transcript.json").read_bytes() == transcript
    assert draft.read_text() == approved_text
    assert run_record(folder).overrides == {
        "asr": {"backend": "captions"},
        "diarize": {"num_speakers": 2},
        "editorial": {"target_language": "de"},
    }
    row = _status(data, capsys)
    assert (row["state"], row["step"], row["review"], row["draft"], row["published"]) == (
        "failed",
        "editorial",
        "approved",
        str(draft),
        str(published),
    )
    assert row["error"].startswith(
        f"the LLM endpoint {fake_llm.base_url} rejected the API key (401: "
    ), row["error"]
    monkeypatch.setenv("COLUMNS", "300")
    code, out, err = cli(["--data-dir", str(data), "status"], capsys)
    assert code == 0, err
    assert "rerun failed (editorial)" in out and f"published: {published}" in out, out

    # 3. the same rerun once the LLM answers: a new German version, which goes beside the
    # approved draft as a proposal; status keeps the approved draft and names the proposal
    third, said = _run(talk, base, {"editorial": {"target_language": "de"}})
    assert third.skipped == ["fetch", "transcribe", "turns"], said
    proposal = draft.with_name(f"{first.episode_id}.new.md")
    assert (third.draft.path, third.draft.kept) == (proposal, draft)
    assert f"{draft} was approved, so it was kept as published" in said
    assert draft.read_text() == approved_text
    assert "\ntitle: '[de] talk'\n" in proposal.read_text()  # the fake's German title
    assert "\ntitle: 【译】talk\n" in approved_text
    row = _status(data, capsys)
    assert {k: row[k] for k in ("state", "review", "draft", "published", "proposal")} == {
        "state": "done",
        "review": "approved",
        "draft": str(draft),
        "published": str(published),
        "proposal": str(proposal),
    }
    assert row["proposal_review"] == "drafted"


def test_a_source_that_is_no_source_leaves_no_failed_run(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    config = _base(data, "http://127.0.0.1:9/v1")
    for source in ("missing.mp3", str(tmp_path / "missing.mp3"), "ftp://example.com/a.mp3"):
        with pytest.raises(UsageError):
            run_episode(source, config, overrides={})
    code, out, err = cli(["--data-dir", str(data), "status", "--json"], capsys)
    assert (code, out) == (0, "[]\n"), err

    # a row an older podpost left for a typo goes when the same typo is run again
    Ledger.of(config).record_fetch_failure("missing.mp3", "missing.mp3", None, {}, "old")
    assert [r["source"] for r in _rows(data, capsys)] == ["missing.mp3"]
    with pytest.raises(UsageError, match="neither an http"):
        run_episode("missing.mp3", config, overrides={})
    assert _rows(data, capsys) == []


def test_a_real_fetch_failure_is_listed_until_the_source_is_fetched(
    tmp_path: Path, media_server, audio, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    config = with_overrides(_base(data, "http://127.0.0.1:9/v1"), {"fetch": {"retries": 0}})
    name = f"{tmp_path.name}/talk.wav"
    media_server.put(name, audio.silence(1.0))
    url = media_server.route(name, fail_first=1, fail_status=503)
    with pytest.raises(NetworkError):
        run_episode(url, config, overrides={"asr": {"backend": "captions"}})
    [row] = _rows(data, capsys)
    assert (row["id"], row["state"], row["step"], row["source"]) == (None, "failed", "fetch", url)

    # fetched now (the captions backend then finds no captions: the run fails later, as
    # the episode's own row)
    with pytest.raises(TranscriptionError, match="has no human-made transcript"):
        run_episode(url, config, overrides={"asr": {"backend": "captions"}})
    [row] = _rows(data, capsys)
    assert (row["state"], row["last_step"], row["source"]) == ("failed", "fetch", url)
    assert row["id"] is not None


def _rows(data: Path, capsys) -> list[dict[str, Any]]:
    code, out, err = cli(["--data-dir", str(data), "status", "--json"], capsys)
    assert code == 0, err
    return json.loads(out)
