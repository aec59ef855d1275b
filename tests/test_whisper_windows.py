"""How the whisper backend groups speech regions into the windows it reads and decodes, and
how faster-whisper's batched decoding cuts a window into 30-second clips."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from pipeline.transcribe.faster_whisper_backend import _clips, _inside
from pipeline.transcribe.speech_decoder import _windows


def _spans(regions, limit):
    return [(w.start, w.end, w.regions) for w in _windows(regions, limit)]


def test_regions_are_grouped_up_to_the_limit_and_cut_between_regions() -> None:
    regions = [(0.0, 100.0), (110.0, 500.0), (520.0, 700.0), (705.0, 800.0)]
    assert _spans(regions, 600.0) == [
        (0.0, 500.0, [(0.0, 100.0), (110.0, 500.0)]),
        (520.0, 800.0, [(520.0, 700.0), (705.0, 800.0)]),
    ]


def test_a_region_longer_than_the_limit_is_cut_so_memory_stays_bounded() -> None:
    # VAD off: the whole 25-minute file is one region
    assert _spans([(0.0, 1500.0)], 600.0) == [
        (0.0, 600.0, [(0.0, 600.0)]),
        (600.0, 1200.0, [(600.0, 1200.0)]),
        (1200.0, 1500.0, [(1200.0, 1500.0)]),
    ]
    windows = _windows([(10.0, 20.0), (30.0, 1000.0)], 600.0)
    assert all(w.end - w.start <= 600.0 for w in windows)
    assert sum(e - s for w in windows for s, e in w.regions) == 980.0


def test_no_regions_no_windows() -> None:
    assert _windows([], 600.0) == []


def _speech(seconds: float, pauses: list[float]) -> np.ndarray:
    """Loud noise with 0.3 s of near silence starting at each of ``pauses`` (16 kHz)."""
    audio = np.random.default_rng(0).normal(0, 0.1, round(seconds * 16000)).astype(np.float32)
    for at in pauses:
        audio[round(at * 16000) : round((at + 0.3) * 16000)] *= 0.01
    return audio


def test_batched_clips_end_in_the_pause_before_the_limit() -> None:
    clips = _clips(_speech(70.0, [12.0, 27.5, 31.0, 49.0]))
    # the quietest 50 ms of each clip's last 10 s: inside the pauses at 27.5 and 49.0 s
    (a, cut1), (b, cut2), (c, end) = [(c["start"], c["end"]) for c in clips]
    assert (a, b, c, end) == (0.0, cut1, cut2, 70.0)
    assert 27.5 < cut1 < 27.8 and 49.0 < cut2 < 49.3


def test_batched_clips_of_a_short_or_loud_stream() -> None:
    assert _clips(_speech(12.0, [])) == [{"start": 0.0, "end": 12.0}]
    clips = _clips(_speech(65.0, []))  # no pause at all: still at most 30 s per clip
    assert all(0 < c["end"] - c["start"] <= 30.0 for c in clips)
    assert clips[0]["start"] == 0.0 and clips[-1]["end"] == 65.0
    assert all(a["end"] == b["start"] for a, b in pairwise(clips))


def test_a_batched_segment_stays_inside_its_clip() -> None:
    clips = [{"start": 0.0, "end": 27.65}, {"start": 27.65, "end": 29.0}]
    segment = {"start": 27.7, "end": 30.1, "words": [{"start": 28.5, "end": 30.1}]}
    assert _inside(segment, clips) == {
        "start": 27.7,
        "end": 29.0,
        "words": [{"start": 28.5, "end": 29.0}],
    }
