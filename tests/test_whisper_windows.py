"""How the whisper backend groups speech regions into the windows it reads and decodes."""

from __future__ import annotations

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
