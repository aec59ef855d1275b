"""`podpost run URL` end to end: loopback media, captions or a tiny whisper, the fake LLM."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.models import Transcript, Turns
from pipeline.post.parse import check_post, parse_post
from pipeline.turns.segment import same_text
from tests.fixtures.flows import base_env, publish_show, run_cli, status_rows, write_config


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").split())


@pytest.mark.slow
def test_run_feed_item_with_captions_on_the_embedded_server(
    tmp_path: Path, media_server, audio, fake_llm
) -> None:
    show = publish_show(media_server, audio, "e2e-captions")
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url)
    data = tmp_path / "data"
    env = base_env(tmp_path / "prefect-home")  # no PREFECT_API_URL: the embedded server

    done = run_cli(
        ["--config", str(config), "--data-dir", str(data), "run", show.feed_url], env=env
    )
    assert done.returncode == 0, done.stderr
    draft = Path(done.stdout.strip())
    assert draft.parent == data / "drafts" and draft.is_file()
    text = draft.read_text()

    check = CliRunner().invoke(app, ["post", "check", str(draft)])  # in process: faster
    assert check.exit_code == 0, check.output
    assert check_post(text) == []
    post = parse_post(text)
    assert post.front.draft is True

    # turns and originals match the transcript, in order, nothing lost or invented
    folder = data / "episodes" / draft.stem
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text())
    turns = Turns.model_validate_json((folder / "turns.json").read_text())
    assert _plain(transcript.text) == _plain(show.text)
    assert same_text(" ".join(t.text for t in turns.turns), transcript.text)
    assert [_plain(t.original) for t in post.turns] == [_plain(t.text) for t in turns.turns]
    assert [t.speaker for t in post.turns] == [t.speaker for t in turns.turns]
    assert all(t.translation for t in post.turns)

    # the progress went to stderr, the path alone to stdout
    assert "fetch: done" in done.stderr and "editorial: done" in done.stderr
    assert done.stdout == f"{draft}\n"

    # the artifacts are in the embedded server's SQLite database under PREFECT_HOME
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        rows = dict(db.execute("SELECT key, type FROM artifact WHERE key IS NOT NULL"))
        markdown = db.execute(
            "SELECT data FROM artifact WHERE key = ?", (f"draft-{draft.stem}",)
        ).fetchone()[0]
    assert rows == {f"draft-{draft.stem}": "markdown", f"review-flags-{draft.stem}": "table"}
    assert json.loads(markdown) == text if markdown.startswith('"') else markdown == text

    # status: done, every step, the draft, the tokens the fake server counted
    [row] = status_rows(data)
    served = fake_llm.requests()
    tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in served)
    assert (row["id"], row["state"], row["last_step"], row["error"]) == (
        draft.stem,
        "done",
        "render",
        None,
    )
    assert row["draft"] == str(draft) and row["review"] == "drafted"
    assert row["tokens"] == tokens > 0


@pytest.mark.slow
def test_run_direct_mp3_with_a_tiny_whisper_checkpoint(
    tmp_path: Path, media_server, audio, fake_llm, real_whisper_checkpoint, prefect_api
) -> None:
    # real tiny.en weights; a few seconds of speech keep the decoding to about a second
    speech = audio.speech("Welcome to Loopback Radio.", fmt="mp3")
    url = media_server.put("e2e-whisper/talk.mp3", speech)
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, asr={"beam_size": 1})
    data = tmp_path / "data"
    args = ["--config", str(config), "--data-dir", str(data), "run", url]
    args += [
        "--backend",
        "whisper",
        "--model",
        str(real_whisper_checkpoint),
        "--speakers",
        "Ada,Ben",
    ]
    done = run_cli(args, env=prefect_api.client_env(), timeout=600)
    assert done.returncode == 0, done.stderr
    draft = Path(done.stdout.strip())
    folder = data / "episodes" / draft.stem
    transcript = Transcript.model_validate_json((folder / "transcript.json").read_text())
    turns = Turns.model_validate_json((folder / "turns.json").read_text())
    assert transcript.backend == "whisper" and transcript.language == "en"
    assert transcript.text.startswith("Welcome to"), transcript.text
    progress = [line for line in done.stderr.splitlines() if "(audio seconds):" in line]
    assert progress[-1] == "transcription (audio seconds): 100%"  # stderr is a pipe here
    assert same_text(" ".join(t.text for t in turns.turns), transcript.text)
    post = parse_post(draft.read_text())
    assert [_plain(t.original) for t in post.turns] == [_plain(t.text) for t in turns.turns]
    assert {t.speaker for t in post.turns} <= {"Ada", "Ben"}
