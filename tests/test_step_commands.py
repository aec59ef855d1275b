"""The step commands leave an episode that the others understand.

``podpost fetch``, ``transcribe``, ``turns``, ``translate`` and ``render`` run in turn on
one local file (with a ``.vtt`` beside it, captions backend, the fake LLM); then
``podpost status`` reports the episode done with its draft, ``podpost render`` renders it
again to the same draft, and ``podpost run`` on the same file redoes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.models import Turns
from pipeline.post.parse import parse_post
from tests.fixtures.flows import LINES, captions_vtt, run_cli, status_rows, write_config


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_each_step_command_understands_what_the_others_left(
    tmp_path: Path, audio, fake_llm, prefect_api, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    talk = tmp_path / "talk.mp3"
    shutil.copy(audio.speech(LINES[:4], fmt="mp3", gap=0.4), talk)
    talk.with_suffix(".vtt").write_text(captions_vtt(audio, LINES[:4]))
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, asr={"backend": "auto"})
    data = tmp_path / "data"
    base = ["--config", str(config), "--data-dir", str(data)]

    code, out, err = _cli(capsys, *base, "fetch", str(talk))
    assert code == 0, err
    folder = Path(out.splitlines()[0].rsplit(": ", 1)[1]).parent
    episode = folder.name
    assert folder == data / "episodes" / episode
    [row] = status_rows(data)
    assert (row["id"], row["state"], row["last_step"]) == (episode, "pending", "fetch")

    code, out, err = _cli(capsys, *base, "transcribe", str(folder), "--backend", "captions")
    assert code == 0, err
    assert out.endswith(f"(captions, en): {folder / 'transcript.json'}\n"), out
    code, out, err = _cli(capsys, *base, "turns", episode)  # an id works as well as a folder
    assert code == 0, err
    assert fake_llm.requests("speaker_names")
    code, out, err = _cli(capsys, *base, "translate", str(folder))
    assert code == 0, err
    turns = Turns.model_validate_json((folder / "turns.json").read_text()).turns
    assert out.startswith(f"wrote {folder / 'draft.md'}: {len(turns)} turns in "), out
    [row] = status_rows(data)
    assert (row["state"], row["last_step"], row["draft"]) == ("pending", "editorial", None)

    code, out, err = _cli(capsys, *base, "render", episode)
    assert code == 0, err
    draft = data / "drafts" / f"{episode}.md"
    assert out == f"{draft}\n"
    post = parse_post(draft.read_text())
    assert [t.speaker for t in post.turns] == [t.speaker for t in turns]
    assert all(t.translation for t in post.turns)
    assert draft.read_text() == (folder / "draft.md").read_text()

    code, out, err = _cli(capsys, *base, "status", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert {k: row[k] for k in ("id", "state", "last_step", "draft", "failed_turns", "error")} == {
        "id": episode,
        "state": "done",
        "last_step": "render",
        "draft": str(draft),
        "failed_turns": 0,
        "error": None,
    }
    assert row["review"] == "drafted" and row["source"] == str(talk)
    assert row["tokens"] == sum(
        r["prompt_tokens"] + r["completion_tokens"]
        for r in fake_llm.requests()
        if r["task"] != "speaker_names"
    )

    code, out, err = _cli(capsys, *base, "render", str(folder))  # again: same draft, no .new
    assert (code, out) == (0, f"{draft}\n"), err
    assert sorted(p.name for p in draft.parent.glob("*.md")) == [draft.name]

    # the flow finds every step finished; the step commands' --backend was kept for it
    fake_llm.reset()
    done = run_cli([*base, "resume", episode], env=prefect_api.client_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{draft}\n"
    for step in ("fetch", "transcribe", "turns", "editorial"):
        assert f"{step}: finished before, kept" in done.stderr, done.stderr
    assert fake_llm.requests() == []
