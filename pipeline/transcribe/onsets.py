"""Word starts checked on the audio: a word begins where its voice does.

Whisper's word times come from cross-attention (dynamic time warping over the alignment
heads), which is sure of a word's middle and vague about its edges: after a pause, the
first word of a sentence is often placed 0.3-0.9 s late (its start snapped toward the
segment's timestamp token or squeezed to twice the median word length), sometimes early,
stretched over the silence before it (the word before then often ends where it starts,
stretched over the pause too). Here each word's start moves to the nearest onset of real
sound: the start of the run of voice (louder than the local noise floor and not far
below the word's own peak) that holds the word's loudest moment, never before the
previous word's end.

Public API:
    recheck_onsets(segments, read, stretches=()) -> list[Segment]
        ``read(start s, end s)``: float32 samples at 16 kHz of that stretch of the episode;
        ``stretches``: the VAD's ``(start, end, onset)``, which bound how early a word starts
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import numpy as np

from pipeline.audio.pcm import SAMPLE_RATE
from pipeline.models import Segment, Word

FRAME = 0.01  # seconds: the unit of the loudness check
SEARCH = 1.0  # seconds before a word's start where its true onset may lie
CONTEXT = 1.0  # seconds of audio before the search that show the noise floor
ABOVE_FLOOR = 4.0  # voice: at least this times the floor's RMS (+12 dB) ...
BELOW_PEAK = 0.05  # ... and at least this share of the word's loudest frame's (-26 dB)
MAX_DIP = 5  # frames: a dip this short inside a voice (a stop consonant) does not end it
MIN_WORD = 0.05  # seconds a word keeps when its start moves forward
VAD_SLACK = 0.1  # seconds a word may start before the VAD's onset (its 32 ms steps, and more)

Reader = Callable[[float, float], np.ndarray]


def _rms(samples: np.ndarray) -> np.ndarray:
    hop = round(FRAME * SAMPLE_RATE)
    frames = samples[: samples.size // hop * hop].reshape(-1, hop)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def word_onset(read: Reader, start: float, end: float, earliest: float) -> float:
    """Where the voice of a word placed at ``[start, end)`` begins: from the word's loudest
    frame back to the start of that run of voice (so a start placed late moves back, one
    placed early, in the silence or the previous word's tail, moves forward), no earlier
    than ``earliest`` (the previous word's end) nor ``SEARCH`` s before ``start``;
    ``start`` itself when the word holds no voice."""
    low = max(earliest, start - SEARCH, 0.0)
    origin = max(0.0, low - CONTEXT)
    rms = _rms(read(origin, end))

    def frame(t: float) -> int:
        return min(len(rms) - 1, max(0, int((t - origin) / FRAME)))

    if len(rms) < 3:
        return start
    at, last = frame(start), frame(end)
    floor = float(np.percentile(rms, 10))
    loudest = at + int(np.argmax(rms[at : last + 1]))  # the word's middle: whisper is sure of it
    voice = rms > max(floor * ABOVE_FLOOR, float(rms[loudest]) * BELOW_PEAK, 1e-4)
    if not voice[loudest]:
        return start
    onset, dip = loudest, 0
    for index in range(loudest - 1, frame(low) - 1, -1):
        if voice[index]:
            onset, dip = index, 0
        else:
            dip += 1
            if dip > MAX_DIP:
                break
    # never earlier than allowed: a frame straddling ``low`` counts from ``low``
    return max(low, min(origin + onset * FRAME, max(start, end - MIN_WORD)))


def _vad_floor(stretches: Sequence[tuple[float, float, float]], t: float) -> float:
    """The earliest a word starting at ``t`` may start: ``VAD_SLACK`` before the onset of
    the VAD stretch ``(start, end, onset)`` it lies in (music before a voice is loud too,
    and only the VAD tells them apart); no limit outside every stretch."""
    index = bisect.bisect_right([s[0] for s in stretches], t) - 1
    if index < 0 or t > stretches[index][1]:
        return -math.inf
    return stretches[index][2] - VAD_SLACK


def recheck_onsets(
    segments: list[Segment], read: Reader, stretches: Sequence[tuple[float, float, float]] = ()
) -> list[Segment]:
    """``segments`` with every word's start moved to its voice's onset (:func:`word_onset`:
    inside connected speech it stays where it is, since it may not start before the
    previous word ends), never before the onset of the VAD stretch it is in
    (``stretches``: sorted ``(start, end, onset)``); each segment's start becomes its
    first word's, never before the segment before ends (segments stay ordered and
    disjoint). Word ends and texts are unchanged."""
    out: list[Segment] = []
    previous_end = -math.inf
    for segment in segments:
        words: list[Word] = []
        for word in segment.words:
            start = word.start
            floor = max(previous_end, _vad_floor(stretches, word.start))
            start = round(min(word_onset(read, word.start, word.end, floor), word.end), 3)
            words.append(word.model_copy(update={"start": start}) if start != word.start else word)
            previous_end = max(previous_end, word.end)
        low = out[-1].end if out else 0.0
        first = max(low, words[0].start if words else segment.start)
        words = [w.model_copy(update={"start": max(w.start, low)}) if w.start < low else w
                 for w in words]  # fmt: skip
        out.append(segment.model_copy(update={"start": round(first, 3), "words": words}))
    return out
