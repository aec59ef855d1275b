"""A local file's episode follows what the file holds, not only its path.

``podpost run talk.mp3`` twice on an unchanged file redoes nothing; after a different
recording is exported to the same path, the run fetches it again and makes a new episode
(its own transcript and draft) and leaves the old episode and its hand-edited draft alone.
Real files, the captions backend (a ``talk.vtt`` beside the audio), the fake LLM, and
:func:`pipeline.run.episode.run_episode`, the call the episode flow wraps (no Prefect
server: it adds seconds and nothing this tests).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.run.episode import run_episode
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter
from tests.fixtures.flows import GAP, LINES, captions_vtt

pytestmark = pytest.mark.slow  # synthesised speech (cached after the first test session)

FIRST = LINES[:2]
SECOND = [LINES[2], LINES[3]]


def _config(data: Path, base_url: str) -> Config:
    return Config(
        data_dir=data,
        asr={"backend": "captions"},
        diarize={"backend": "none"},
        llm={"base_url": base_url, "api_key": "test-key", "model": "fake-model",
             "max_retries": 1, "retry_initial_wait": 0.01, "retry_max_wait": 0.05},
    )  # fmt: skip


def _export(audio, lines: list[tuple[str, str]], talk: Path) -> bytes:
    """Write a recording to ``talk`` as an editor does (a new file renamed over the old one)."""
    data = audio.speech(lines, fmt="mp3", gap=GAP).read_bytes()
    tmp = talk.with_name(".talk.mp3.part")
    tmp.write_bytes(data)
    os.replace(tmp, talk)
    talk.with_suffix(".vtt").write_text(captions_vtt(audio, lines))
    return data


def _run(talk: Path, config: Config):
    out = io.StringIO()
    result = run_episode(str(talk), config, report=Reporter(stream=out, terminal=False))
    return result, out.getvalue()


def _spoken(folder: Path) -> str:
    transcript = json.loads((folder / "transcript.json").read_text())
    return " ".join(s["text"] for s in transcript["segments"])


def test_a_file_exported_again_to_the_same_path_is_a_new_episode(
    tmp_path: Path, audio, fake_llm
) -> None:
    talk = tmp_path / "talk.mp3"
    first_bytes = _export(audio, FIRST, talk)
    config = _config(tmp_path / "data", fake_llm.base_url)
    episodes, drafts = config.episodes_dir, config.drafts_path
    first_id = f"local-{hashlib.sha256(first_bytes).hexdigest()[:16]}"

    first, _ = _run(talk, config)
    assert (first.episode_id, first.skipped) == (first_id, [])
    assert _spoken(episodes / first_id) == " ".join(text for _, text in FIRST)
    asked = len(fake_llm.requests())
    assert asked > 0

    # unchanged: the same episode, every step kept, no LLM request
    again, _ = _run(talk, config)
    assert (again.episode_id, again.skipped) == (
        first_id,
        ["fetch", "transcribe", "turns", "editorial"],
    )
    assert len(fake_llm.requests()) == asked
    assert again.draft.path == drafts / f"{first_id}.md" and again.draft.kept is None

    # a person edits the draft; then a different recording is exported to the same path
    draft = drafts / f"{first_id}.md"
    edited = draft.read_text() + "\nA note by hand.\n"
    draft.write_text(edited)
    second_bytes = _export(audio, SECOND, talk)
    second_id = f"local-{hashlib.sha256(second_bytes).hexdigest()[:16]}"
    assert second_id != first_id

    second, said = _run(talk, config)
    assert (second.episode_id, second.skipped) == (second_id, [])
    assert (
        f"note: {talk} changed since it became episode {first_id}, so it is a new episode, "
        f"{second_id}; {first_id} and its draft are kept as they were\n"
    ) in said
    assert _spoken(episodes / second_id) == " ".join(text for _, text in SECOND)
    assert second.draft.path == drafts / f"{second_id}.md" and second.draft.kept is None
    assert "Resuming it after a crash" in second.draft.path.read_text()
    assert len(fake_llm.requests()) > asked  # new work for the new recording
    # the old episode is untouched: its draft as the person left it, its audio and transcript
    assert draft.read_text() == edited
    assert sorted(p.name for p in drafts.glob("*.md")) == sorted(
        [f"{first_id}.md", f"{second_id}.md"]
    )
    old = json.loads((episodes / first_id / "episode.json").read_text())
    assert (episodes / first_id / old["audio_file"]).read_bytes() == first_bytes
    assert _spoken(episodes / first_id) == " ".join(text for _, text in FIRST)
    assert Ledger.of(config).episode_for(str(talk)) == second_id

    # and the new file, unchanged, is reused in turn
    asked = len(fake_llm.requests())
    third, _ = _run(talk, config)
    assert (third.episode_id, third.skipped) == (
        second_id,
        ["fetch", "transcribe", "turns", "editorial"],
    )
    assert len(fake_llm.requests()) == asked

    # the first recording back at the path: its episode again, nothing redone
    shutil.copyfile(audio.speech(FIRST, fmt="mp3", gap=GAP), talk)
    talk.with_suffix(".vtt").write_text(captions_vtt(audio, FIRST))
    back, _ = _run(talk, config)
    assert back.episode_id == first_id
    assert back.skipped == ["transcribe", "turns", "editorial"]  # fetch only hashes the file
    assert len(fake_llm.requests()) == asked
    assert draft.read_text() == edited  # still the person's; the render went beside it
    assert back.draft.kept == draft


def test_a_file_overwritten_in_place_leaves_the_old_episodes_audio_alone(
    tmp_path: Path, audio
) -> None:
    """``ffmpeg -y`` truncates and rewrites the same inode: the episode holds a copy."""
    from pipeline.fetch.local import fetch_local

    talk = tmp_path / "talk.mp3"
    first_bytes = audio.speech(FIRST, fmt="mp3", gap=GAP).read_bytes()
    talk.write_bytes(first_bytes)
    config = Config(data_dir=tmp_path / "data")
    episode = fetch_local(talk, config)
    kept = config.episodes_dir / episode.id / episode.audio_file
    with talk.open("r+b") as same_inode:  # what ffmpeg -y does to an existing file
        same_inode.write(audio.speech(SECOND, fmt="mp3", gap=GAP).read_bytes())
        same_inode.truncate()
    assert kept.read_bytes() == first_bytes
    assert fetch_local(talk, config).id != episode.id
