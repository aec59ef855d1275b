"""Whisper reports its progress window by window, for the terminal bar of `podpost run`.

Real ``tiny.en`` weights, greedy: each window's words are checked against its sentence."""

from __future__ import annotations

import jiwer
import pytest

from pipeline import store
from pipeline.config import Config
from pipeline.fetch.core import fetch_episode
from pipeline.transcribe.step import transcribe_episode
from tests.fixtures.asr_truth import words_of
from tests.fixtures.media import VOICES

pytestmark = pytest.mark.slow


def test_progress_advances_per_window_to_the_end_of_speech(
    tmp_path, audio, real_whisper_checkpoint
):
    script = ["Good morning and welcome.", "This is the second part.", "Here comes the third one.",
              "And that is the end."]  # fmt: skip
    lines = [(VOICES[i % 2], text) for i, text in enumerate(script)]  # en-us, en-gb: clear
    source = audio.speech(lines, "wav", gap=3.0)
    config = Config(
        data_dir=tmp_path / "data",
        asr={"model": str(real_whisper_checkpoint), "beam_size": 1, "window_seconds": 4.0},
    )  # fmt: skip
    episode = fetch_episode(str(source), config)
    calls: list[tuple[float, float]] = []
    transcript = transcribe_episode(
        episode, store.episode_dir(config, episode.id), config,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    total = audio.duration(source)
    assert len(calls) >= 2  # several windows, one report each
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert all(whole == pytest.approx(total, abs=0.05) for _, whole in calls)
    assert total - 2.0 <= calls[-1][0] <= total + 0.05  # ffprobe rounds the duration
    # one sentence per window, each decoded on its own and put back in order
    said = " ".join(words_of(transcript.text))
    assert jiwer.wer(" ".join(words_of(" ".join(script))), said) < 0.25, said
