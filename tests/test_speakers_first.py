"""Speakers first: ``run --until turns``, the speakers fixed in the preview, then one
translation with them.

Real files (synthesised speech with a human-made WebVTT whose voices name the speakers
badly), the captions backend, the fake LLM's request log, the preview's own HTTP API (as
its page calls it), and :func:`pipeline.run.episode.run_episode`, which the episode flow
wraps (``podpost resume`` passes ``until="draft"``).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config
from pipeline.db import open_state
from pipeline.errors import InputFileError
from pipeline.post.parse import parse_post
from pipeline.review.edits import original_cuts
from pipeline.review.flags import sha256_text
from pipeline.review.preview import create_app
from pipeline.review.record import load_record
from pipeline.run.episode import run_episode
from pipeline.run.progress import Reporter
from tests.cli_helpers import cli, run_record
from tests.fixtures.flows import GAP, LINES, _vtt_time
from tests.fixtures.review import preview_client

# who says each of LINES[:4] in the captions: roles, not names, and the third line (Ada's
# question) given to the guest, so the guest's three lines are one turn
VOICES = ["Host", "Guest", "Guest", "Guest"]


def _vtt(audio: Any, lines: list[tuple[str, str]]) -> str:
    cues, start = ["WEBVTT", ""], 0.0
    for (voice, text), speaker in zip(lines, VOICES, strict=True):
        length = audio.duration(audio._say(voice, text))
        cues += [f"{_vtt_time(start)} --> {_vtt_time(start + length)}", f"<v {speaker}>{text}", ""]
        start += length + GAP
    return "\n".join(cues)


def _run(talk: Path, config: Config, until: str, **kwargs: Any) -> tuple[Any, str]:
    out = io.StringIO()
    result = run_episode(
        str(talk), config, report=Reporter(stream=out, terminal=False), until=until, **kwargs
    )  # type: ignore[arg-type]
    return result, out.getvalue()


@pytest.mark.slow  # synthesised speech (cached after the first test session)
def test_speakers_confirmed_in_the_preview_are_translated_once(
    tmp_path: Path, audio, fake_llm, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    talk = tmp_path / "talk.mp3"
    shutil.copy(audio.speech(LINES[:4], fmt="mp3", gap=GAP), talk)
    talk.with_suffix(".vtt").write_text(_vtt(audio, LINES[:4]))
    data, site = tmp_path / "data", tmp_path / "site"
    site.mkdir()
    config = Config(
        data_dir=data,
        asr={"backend": "captions"},
        diarize={"backend": "none"},
        llm={"base_url": fake_llm.base_url, "api_key": "test-key", "model": "fake-model",
             "max_retries": 0},
    )  # fmt: skip

    # 1. stop after the turns: a speakers draft, nothing translated
    first, said = _run(talk, config, "turns")
    draft = data / "drafts" / f"{first.episode_id}.md"
    assert (first.stage, first.draft.path) == ("turns", draft)
    assert f"`podpost resume {first.episode_id}` translates with them" in said
    assert fake_llm.requests() == []  # the captions named every speaker: nothing to ask
    post = parse_post(draft.read_text("utf-8"))
    assert [t.speaker for t in post.turns] == ["Host", "Guest"]
    assert [t.original for t in post.turns] == [
        LINES[0][1],
        " ".join(text for _voice, text in LINES[1:4]),
    ]
    assert all(t.translation == [] for t in post.turns)
    assert load_record(open_state(config), draft).stage == "turns"
    folder = data / "episodes" / first.episode_id
    assert run_record(folder).state == "review-speakers"
    code, out, err = cli(["--data-dir", str(data), "status", "--json"], capsys)
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["state"], row["last_step"], row["draft"]) == (
        "review-speakers",
        "turns",
        str(draft),
    )
    code, _out, err = cli(
        ["--data-dir", str(data), "approve", str(draft), "--to", str(site), "--override"], capsys
    )
    assert code == 7 and "not yet translated" in err and f"podpost resume {first.episode_id}" in err
    assert not list(site.iterdir())
    code, out, err = cli(["--data-dir", str(data), "review", str(draft), "--json"], capsys)
    assert code == 0, err
    flags = json.loads(out)["flags"]  # who speaks, not the translation that is yet to come
    assert [(f["kind"], f["turn"]) for f in flags] == [
        ("unknown-speaker", 1),  # roles, not names
        ("unknown-speaker", 2),
        ("speakers-draft", None),
    ]

    # 2. the editor fixes them in the preview: the roles get their names, and the guest's
    # turn is split twice, so that the question is Ada's and the answer Ben's again
    client = preview_client(
        create_app(draft, episodes_dir=data / "episodes", db=open_state(config))
    )
    body = {
        "base_sha256": sha256_text(draft.read_text("utf-8")),
        "front": post.front.model_dump(),
        "speakers": {"Host": "Ada Stone", "Guest": "Ben Ruiz"},
        "headings": [s.heading for s in post.sections],
        "translations": ["" for _ in post.turns],
    }
    response = client.post("/api/save", json=body)
    assert response.status_code == 200, response.text
    for turn, line, speaker in ((2, LINES[2][1], "Ada Stone"), (3, LINES[3][1], "Ben Ruiz")):
        original = parse_post(draft.read_text("utf-8")).turns[turn - 1].original
        [at] = [cut for cut in original_cuts(original) if original[cut:].lstrip().startswith(line)]
        edit = {"base_sha256": response.json()["sha256"], "op": "split", "turn": turn,
                "at": at, "speaker": speaker}  # fmt: skip
        response = client.post("/api/edit", json=edit)
        assert response.status_code == 200, response.text

    # 3. resume: the confirmed speakers become the turns, and each turn is translated once
    asked = len(fake_llm.requests())
    final, said = _run(talk, config, "draft")
    assert final.stage == "post" and final.draft.path == draft and final.draft.kept is None
    assert f"turns as confirmed in {draft}" in said
    fixed = ["Ada Stone", "Ben Ruiz", "Ada Stone", "Ben Ruiz"]
    post = parse_post(draft.read_text("utf-8"))
    assert [t.speaker for t in post.turns] == fixed
    assert all(t.translation for t in post.turns)
    assert load_record(open_state(config), draft).stage == "post"
    turns = json.loads((folder / "turns.json").read_text("utf-8"))
    assert [t["speaker"] for t in turns["turns"]] == fixed
    assert {s["name"]: s["known"] for s in turns["speakers"]} == {
        "Ada Stone": True,
        "Ben Ruiz": True,
    }
    later = fake_llm.requests()[asked:]
    assert "speaker_names" not in [r["task"] for r in later]  # the turns were not redone
    prompts = [json.dumps(r["messages"], ensure_ascii=False) for r in later]
    assert prompts and all("Host" not in p and "Guest" not in p for p in prompts)
    translated = [p for r, p in zip(later, prompts, strict=True) if r["task"] == "translate"]
    for number, (speaker, (_voice, line)) in enumerate(zip(fixed, LINES[:4], strict=True), 1):
        said_by = f"[{number}] {speaker}: {line}"  # the prompt's line of each turn
        assert sum(p.count(said_by) for p in translated) == 1, said_by  # each asked once
    assert run_record(folder).state == "done"

    # 4. a rerun changes nothing: the confirmed turns are kept
    again, _said = _run(talk, config, "draft")
    assert again.skipped == ["fetch", "transcribe", "turns", "editorial"]
    assert [t.speaker for t in parse_post(draft.read_text("utf-8")).turns] == fixed

    # 5. `--until turns` again: the translated draft stays, the speakers draft goes beside it
    translated = draft.read_bytes()
    again, said = _run(talk, config, "turns")
    beside = draft.with_name(f"{first.episode_id}.new.md")
    assert (again.draft.path, again.draft.kept) == (beside, draft)
    assert f"{draft} is already translated, so it was kept" in said
    assert draft.read_bytes() == translated
    assert [t.speaker for t in parse_post(beside.read_text("utf-8")).turns] == fixed

    # 6. a resume of the episode once its file holds another recording is refused before
    # anything is fetched: no other episode is made, nothing is written
    episodes = sorted(p.name for p in (data / "episodes").iterdir())
    drafts = sorted(p.name for p in (data / "drafts").iterdir())
    talk.write_bytes(talk.read_bytes() + b"\0" * 64)  # another recording at the same path
    with pytest.raises(InputFileError, match=f"is no longer what episode {first.episode_id}"):
        _run(talk, config, "draft", episode_id=first.episode_id)
    assert sorted(p.name for p in (data / "episodes").iterdir()) == episodes
    assert sorted(p.name for p in (data / "drafts").iterdir()) == drafts
