"""The joined-speech timeline: times on the stream whisper hears -> episode seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.transcribe.timeline import Timeline

REGIONS = [(2.0, 5.0), (10.0, 11.5), (20.0, 30.0)]  # joined: [0, 3) [3, 4.5) [4.5, 14.5)


def test_times_map_into_their_region() -> None:
    timeline = Timeline.of(REGIONS)
    assert timeline.duration == 14.5
    assert timeline.start(0.0) == 2.0
    assert timeline.start(1.25) == 3.25
    assert timeline.start(4.0) == 11.0
    assert timeline.end(14.5) == 30.0


def test_a_junction_starts_the_next_region_and_ends_the_previous_one() -> None:
    timeline = Timeline.of(REGIONS)
    assert timeline.start(3.0) == 10.0  # a word starting at the junction: after the pause
    assert timeline.end(3.0) == 5.0  # a word ending there: before it
    assert timeline.start(4.5) == 20.0 and timeline.end(4.5) == 11.5


def test_times_past_either_end_are_clamped() -> None:
    timeline = Timeline.of(REGIONS)
    assert timeline.start(-1.0) == 2.0 and timeline.end(0.0) == 2.0
    assert timeline.end(99.0) == 30.0 and timeline.start(99.0) == 30.0


def test_no_regions_and_bad_regions() -> None:
    assert Timeline.of([]).duration == 0.0
    with pytest.raises(ValueError, match="sorted and disjoint"):
        Timeline.of([(5.0, 6.0), (1.0, 2.0)])
    with pytest.raises(ValueError, match="sorted and disjoint"):
        Timeline.of([(1.0, 3.0), (2.0, 4.0)])


@st.composite
def regions(draw: st.DrawFn) -> list[tuple[float, float]]:
    cuts = sorted(draw(st.sets(st.integers(0, 10_000), min_size=2, max_size=20)))
    pairs = [(cuts[i] / 100, cuts[i + 1] / 100) for i in range(0, len(cuts) - 1, 2)]
    return pairs


@given(regions(), st.floats(0, 1), st.floats(0, 1))
def test_mapping_is_monotonic_and_lands_inside_speech(spans, a, b) -> None:
    timeline = Timeline.of(spans)
    first, second = sorted((a * timeline.duration, b * timeline.duration))
    for mapped in (timeline.start(first), timeline.end(first)):
        assert any(lo <= mapped <= hi for lo, hi in spans)
    assert timeline.start(first) <= timeline.start(second)
    assert timeline.end(first) <= timeline.end(second)
    assert timeline.start(first) <= timeline.end(second) or first == second
