"""Which parts of the VAD's speech stretches the rescue pass decodes again (pure)."""

from __future__ import annotations

from pipeline.models import Segment, Word
from pipeline.transcribe.speech_decoder import insert_segments, lost_stretches


def said(*words: tuple[float, float]) -> list[Segment]:
    return [
        Segment(
            start=words[0][0],
            end=words[-1][1],
            text="x " * len(words),
            words=[Word(start=a, end=b, text="x") for a, b in words],
        )
    ]


def test_a_stretch_without_words_is_lost_unless_it_is_a_breath() -> None:
    assert lost_stretches([(1.0, 3.0), (5.0, 5.4)], []) == [(1.0, 3.0)]


def test_a_late_first_word_loses_the_opening() -> None:
    # the stretch starts at 28.3 s; whisper's first word in it is at 30.1 s
    assert lost_stretches([(28.3, 32.0)], said((30.1, 30.4), (30.5, 31.9))) == [(28.3, 30.1)]
    # a first word 0.9 s in is the VAD's padding and a soft onset, not lost speech
    assert lost_stretches([(28.3, 32.0)], said((29.2, 29.5), (29.6, 31.9))) == []


def test_gaps_between_words_and_at_the_end_allow_two_seconds() -> None:
    words = said((0.2, 0.5), (2.4, 2.8), (2.9, 6.0))
    assert lost_stretches([(0.0, 7.9)], words) == []  # 1.9 s between words, 1.9 s at the end
    words = said((0.2, 0.5), (2.6, 2.8), (2.9, 5.0))
    assert lost_stretches([(0.0, 7.1)], words) == [(0.5, 2.6), (5.0, 7.1)]


def test_a_word_running_into_the_next_stretch_does_not_hide_its_late_start() -> None:
    # "most." ends at 28.21 s, past the pause split at 28.13 s; "when" at 30.11 s is the
    # next stretch's first word: its opening 2 s were lost
    words = said((23.1, 27.8), (27.8, 28.21), (30.11, 30.3), (30.33, 32.1))
    assert lost_stretches([(23.0, 28.132), (28.132, 32.4)], words) == [(28.132, 30.11)]


def test_rescued_words_join_the_segment_whose_gap_they_fill() -> None:
    first = Segment(
        start=0.0,
        end=9.0,
        text="one nine",
        words=[Word(start=0.0, end=0.5, text="one"), Word(start=8.5, end=9.0, text="nine")],
    )
    last = Segment(
        start=12.0, end=13.0, text="twelve", words=[Word(start=12.0, end=13.0, text="twelve")]
    )
    gap = Segment(start=3.0, end=4.0, text="three", words=[Word(start=3.0, end=4.0, text="three")])
    tail = Segment(start=8.9, end=10.0, text="ten", words=[Word(start=9.2, end=10.0, text="ten")])
    merged = insert_segments([first, last], [gap, tail])
    assert [(s.start, s.end, s.text) for s in merged] == [
        (0.0, 10.0, "one three nine ten"),
        (12.0, 13.0, "twelve"),
    ]
