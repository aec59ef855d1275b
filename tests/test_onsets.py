"""Word starts checked on the audio (:mod:`pipeline.transcribe.onsets`), on exact signals."""

from __future__ import annotations

import numpy as np

from pipeline.models import Segment, Word
from pipeline.transcribe.onsets import recheck_onsets

RATE = 16000


def _reader(signal: np.ndarray):
    def read(start: float, end: float) -> np.ndarray:
        return signal[max(0, round(start * RATE)) : max(0, round(end * RATE))]

    return read


def _signal(*voices: tuple[float, float, float]) -> np.ndarray:
    """Four seconds of a faint noise floor with (start, end, amplitude) bursts of a
    200 Hz tone: a voice with exact onsets."""
    signal = np.random.default_rng(0).normal(0, 0.001, 4 * RATE).astype(np.float32)
    t = np.arange(len(signal)) / RATE
    for start, end, amplitude in voices:
        inside = (t >= start) & (t < end)
        signal[inside] += amplitude * np.sin(2 * np.pi * 200 * t[inside]).astype(np.float32)
    return signal


def _segment(*words: tuple[float, float, str]) -> Segment:
    return Segment(
        start=words[0][0],
        end=words[-1][1],
        text=" ".join(w for *_, w in words),
        words=[Word(start=a, end=b, text=w) for a, b, w in words],
    )


def test_a_late_first_word_moves_back_to_its_voice():
    # a soft onset (the first 0.3 s at a tenth of the loudness) still counts as voice
    signal = _signal((1.0, 1.3, 0.03), (1.3, 2.0, 0.3), (2.0, 2.6, 0.3))
    (segment,) = recheck_onsets([_segment((1.7, 2.0, "Hello"), (2.0, 2.6, "there."))],
                                _reader(signal))  # fmt: skip
    assert [(w.start, w.end) for w in segment.words] == [(1.0, 2.0), (2.0, 2.6)]
    assert segment.start == 1.0


def test_an_early_first_word_moves_forward_out_of_silence():
    signal = _signal((1.0, 1.5, 0.3))
    (segment,) = recheck_onsets([_segment((0.4, 1.5, "Yes."))], _reader(signal))
    assert (segment.start, segment.words[0].start, segment.words[0].end) == (1.0, 1.0, 1.5)


def test_words_inside_speech_and_the_previous_segment_stay_put():
    # "one" ends where "two" starts: no pause, nothing checked; "three" after a pause is
    # checked but the voice before it belongs to "two" (never before the previous end)
    signal = _signal((0.5, 1.6, 0.3), (2.0, 2.5, 0.3))
    segments = recheck_onsets(
        [_segment((0.5, 1.0, "one"), (1.0, 1.6, "two")), _segment((1.7, 2.5, "three."))],
        _reader(signal),
    )
    assert [(w.start, w.end) for s in segments for w in s.words] == [
        (0.5, 1.0),
        (1.0, 1.6),
        (2.0, 2.5),
    ]
    assert [(s.start, s.end) for s in segments] == [(0.5, 1.6), (2.0, 2.5)]


def test_a_word_after_music_stops_at_the_vads_onset():
    # a quieter tone straight into the voice: by loudness alone, one sound from 0.6 s
    signal = _signal((0.6, 1.0, 0.1), (1.0, 2.0, 0.3))
    word = _segment((1.5, 2.0, "Welcome."))
    (alone,) = recheck_onsets([word], _reader(signal))
    assert alone.words[0].start == 0.6
    (bounded,) = recheck_onsets([word], _reader(signal), [(0.0, 2.4, 1.05)])
    assert bounded.words[0].start == 0.95  # the VAD's onset, less its slack
