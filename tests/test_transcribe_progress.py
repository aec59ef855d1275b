"""Whisper reports its progress window by window, for the terminal bar of `podpost run`."""

from __future__ import annotations

import pytest

from pipeline import store
from pipeline.config import Config
from pipeline.fetch.core import fetch_episode
from pipeline.transcribe.step import transcribe_episode
from tests.fixtures.media import VOICES

pytestmark = pytest.mark.slow


def test_progress_advances_per_window_to_the_end_of_speech(tmp_path, audio, whisper_checkpoint):
    lines = [
        (VOICES[i % len(VOICES)], f"This is sentence number {i} of the talk.") for i in range(4)
    ]
    source = audio.speech(lines, "wav", gap=3.0)
    config = Config(
        data_dir=tmp_path / "data",
        asr={"model": str(whisper_checkpoint), "temperatures": [0.0], "language": "en",
             "window_seconds": 4.0},
    )  # fmt: skip
    episode = fetch_episode(str(source), config)
    calls: list[tuple[float, float]] = []
    transcribe_episode(
        episode, store.episode_dir(config, episode.id), config,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    total = audio.duration(source)
    assert len(calls) >= 2  # several windows, one report each
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert all(whole == pytest.approx(total, abs=0.05) for _, whole in calls)
    assert total - 2.0 <= calls[-1][0] <= total
