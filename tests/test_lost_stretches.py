"""Which parts of the VAD's speech stretches the rescue pass decodes again, and which of its
finds it keeps (pure)."""

from __future__ import annotations

from pipeline.models import Segment, Word
from pipeline.transcribe.speech_decoder import anomaly, insert_segments, lost_stretches


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


def test_a_lead_in_after_music_is_padding_not_lost_speech() -> None:
    # a 3 s tone, then "Hello and welcome back" heard by the VAD at 47.456 s: the stretch
    # starts 1.0 s earlier (the lead-in after sound) and whisper's first word is on time
    stretch = [(46.456, 49.904)]
    words = said((47.48, 47.9), (48.0, 49.6))
    assert lost_stretches(stretch, words, onsets=[47.456]) == []
    assert lost_stretches(stretch, words) == [(46.456, 47.48)]  # read as PAD, it looks late
    # measured from the onset, a first word 0.74 s late is still a lost opening
    late = said((48.2, 48.5), (48.6, 49.6))
    assert lost_stretches(stretch, late, onsets=[47.456]) == [(46.456, 48.2)]


def _segment(*words: tuple[str, float, float, float]) -> Segment:
    return Segment(
        start=words[0][1],
        end=words[-1][2],
        text=" ".join(w[0] for w in words),
        words=[Word(text=t, start=a, end=b, probability=p) for t, a, b, p in words],
    )


def test_whispers_anomaly_test_drops_what_tiny_en_hears_in_a_tone() -> None:
    # what the rescue pass got from 1 s of a 330 Hz tone and 24 ms of speech after it
    assert anomaly(_segment(("So", 46.45, 47.29, 0.0493)))
    assert not anomaly(_segment(("Hello", 47.48, 47.9, 0.7169), ("and", 47.9, 48.1, 0.8384)))
    # punctuation is not counted; one unsure word among sure ones is kept
    assert not anomaly(
        _segment(
            ("Wonderful", 61.0, 61.5, 0.135), ("see", 61.5, 61.8, 0.31), (".", 61.8, 61.8, 0.9)
        )
    )
    # scores add up: three unsure words, or words too short to be speech
    assert anomaly(_segment(*[(f"w{i}", i, i + 0.3, 0.1 if i < 3 else 0.9) for i in range(6)]))
    assert anomaly(_segment(("a", 1.0, 1.02, 0.9), ("b", 1.02, 1.04, 0.9)))
