"""Voice activity detection, so silence and music are never given to the decoder.

Public API:
    speech_stretches(pcm, engine="silero", threshold=0.5) -> list[tuple[float, float]]
        every stretch of speech, split at pauses of ``STRETCH_SILENCE`` s or more, padded
    speech_spans(pcm, engine="silero", threshold=0.5) -> list[Stretch]
        the same with each stretch's onset (where the voice begins, inside the padding)
    speech_regions(pcm, engine="silero", threshold=0.5) -> list[tuple[float, float]]
        the stretches merged across pauses shorter than ``MIN_SILENCE``

Works offline: faster-whisper ships Silero VAD's ONNX model inside its package; webrtcvad is
pure C.
The audio is scanned in blocks (bounded memory); regions closer than ``MIN_SILENCE``
seconds are merged and each is padded by ``PAD`` seconds, as faster-whisper does, so
sentence pauses stay inside one region and whisper gets long, natural clips.

Silero's onset comes late after a quiet first word: before a stretch that follows quiet,
the voice is followed back over frames above the noise floor (``_voice_before``), so the
stretch and its onset start with that word.

Speech right after other sound (a jingle, a music bed) is found late: the VAD's state is
still saying "not speech" for a moment after the voice starts (measured in BENCHMARKS.md). A
stretch whose second before is mostly sound louder than ``SOUND_RMS`` therefore gets
``LEAD_AFTER_SOUND`` seconds of lead-in instead of ``PAD``, so its first word reaches the
decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.audio.pcm import SAMPLE_RATE, PcmFile
from pipeline.errors import ConfigError

MIN_SILENCE = 2.0  # seconds of non-speech that separate two regions
PAD = 0.4  # seconds added on each side of a region
STRETCH_SILENCE = 0.3  # seconds of non-speech that end one stretch (the unit of rescue)
LEAD_AFTER_SOUND = 1.0  # seconds of lead-in for a stretch that follows non-speech sound
SOUND_RMS = 0.01  # (-40 dBFS) above this the second before a stretch is sound, not quiet
BLOCK = 600.0  # seconds of audio scanned at a time
FRAME = SAMPLE_RATE // 100  # samples in 10 ms, the unit of the loudness check
VOICE_SEARCH = 1.0  # seconds before a stretch searched for quiet voice the VAD missed
VOICE_OVER_FLOOR = 4.0  # voice: this times the noise floor's RMS (+12 dB) ...
VOICE_RMS = 0.002  # ... and above -54 dBFS
VOICE_MISSED = 0.15  # seconds of voice before the VAD's start that count as a missed word


def _silero_block(
    samples: np.ndarray, threshold: float, min_silence: float = STRETCH_SILENCE
) -> list[tuple[float, float]]:
    # Silero VAD as faster-whisper runs it: the same model, in ONNX, scoring all 32 ms
    # chunks of the block in one batch: 6x faster than the silero-vad package's chunk by
    # chunk loop (0.22 s against 1.33 s for 76 s of speech), boundaries within 64 ms of it.
    # Split at short pauses: regions are merged again by ``merge``, stretches are kept.
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=threshold,
        min_speech_duration_ms=250,
        min_silence_duration_ms=int(min_silence * 1000),
        speech_pad_ms=0,
    )
    stamps = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def _webrtc_block(
    samples: np.ndarray, threshold: float, min_silence: float = 0.0
) -> list[tuple[float, float]]:
    import webrtcvad

    vad = webrtcvad.Vad(3 if threshold >= 0.7 else 2)
    frame = int(0.03 * SAMPLE_RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    regions: list[tuple[float, float]] = []
    for index in range(len(samples) // frame):
        chunk = pcm[index * frame * 2 : (index + 1) * frame * 2]
        if vad.is_speech(chunk, SAMPLE_RATE):
            start = index * frame / SAMPLE_RATE
            regions.append((start, start + frame / SAMPLE_RATE))
    # single speech frames are usually clicks: require 250 ms in a row, like silero's setting
    return [r for r in merge(regions, gap=min_silence) if r[1] - r[0] >= 0.25]


def merge(regions: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """``regions`` sorted, with those less than ``gap`` seconds apart joined."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(regions):
        if merged and start - merged[-1][1] <= gap + 1e-9:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _voice_before(pcm: PcmFile, start: float, low: float) -> float:
    """Where the voice that the VAD heard start at ``start`` really begins: Silero's
    onset comes late after a quiet word ("hello" said softly before the first loud one),
    so walk back while 10 ms frames stay above the noise floor (``VOICE_OVER_FLOOR`` x
    the quietest tenth's RMS), over dips shorter than ``STRETCH_SILENCE``, at most
    ``VOICE_SEARCH`` s and never before ``low`` (the stretch before)."""
    origin = max(0.0, low, start - VOICE_SEARCH - 1.0)
    samples = pcm.read(origin, start)
    rms = np.sqrt(np.mean(samples[: samples.size // FRAME * FRAME].reshape(-1, FRAME) ** 2, 1))
    if rms.size < 10:
        return start
    voice = rms > max(float(np.percentile(rms, 10)) * VOICE_OVER_FLOOR, VOICE_RMS)
    onset, dip = rms.size, 0
    for index in range(rms.size - 1, -1, -1):
        if origin + index * FRAME / SAMPLE_RATE < start - VOICE_SEARCH:
            break
        if voice[index]:
            onset, dip = index, 0
        else:
            dip += 1
            if dip * FRAME / SAMPLE_RATE >= STRETCH_SILENCE:
                break
    return origin + onset * FRAME / SAMPLE_RATE


def _lead(pcm: PcmFile, start: float) -> float:
    """Padding before a stretch that starts at ``start``: more after sound than after quiet."""
    before = pcm.read(max(0.0, start - 1.0), start)
    frames = before[: before.size // FRAME * FRAME].reshape(-1, FRAME)
    # the median 10 ms frame, not the whole second: the VAD's start may be a few frames
    # into the first word, which alone must not make silence look like sound
    if frames.size and float(np.median(np.sqrt(np.mean(frames**2, axis=1)))) > SOUND_RMS:
        return LEAD_AFTER_SOUND
    return PAD


@dataclass(frozen=True)
class Stretch:
    """A stretch of speech, seconds: ``start``/``end`` padded, ``onset`` where the VAD heard
    the voice begin (``start`` plus its lead-in)."""

    start: float
    end: float
    onset: float


def speech_stretches(
    pcm: PcmFile, engine: str = "silero", threshold: float = 0.5
) -> list[tuple[float, float]]:
    """Speech stretches in seconds, sorted, disjoint, padded (``PAD`` after, ``PAD`` or
    ``LEAD_AFTER_SOUND`` before); pauses under ``STRETCH_SILENCE`` s do not split them."""
    return [(s.start, s.end) for s in speech_spans(pcm, engine, threshold)]


def speech_spans(pcm: PcmFile, engine: str = "silero", threshold: float = 0.5) -> list[Stretch]:
    """:func:`speech_stretches` with each stretch's onset; :class:`ConfigError` for an
    unknown ``engine``."""
    scanners = {"silero": _silero_block, "webrtc": _webrtc_block}
    if engine not in scanners:
        raise ConfigError(
            f"unknown VAD engine {engine!r}", hint="set asr.vad_engine to silero or webrtc"
        )
    found: list[tuple[float, float]] = []
    total = pcm.seconds
    start = 0.0
    while start < total:
        end = min(total, start + BLOCK)
        found += [
            (start + a, start + b) for a, b in scanners[engine](pcm.read(start, end), threshold)
        ]
        start = end
    found = merge(found, gap=STRETCH_SILENCE)
    padded = []
    for index, (a, b) in enumerate(found):
        lead = _lead(pcm, a)
        if lead == PAD:  # after quiet, not after music: look for a softer start
            softer = _voice_before(pcm, a, found[index - 1][1] if index else 0.0)
            # only a word the VAD missed moves it: a few frames' difference changes what
            # whisper decodes (on tiny.en it lost a sentence 30 s later), not what it hears
            a = softer if a - softer >= VOICE_MISSED else a
        padded.append((max(0.0, a - lead), min(total, b + PAD), a))
    stretches: list[tuple[float, float, float]] = []
    for a, b, onset in padded:  # padding may overlap the stretch before: split the pause
        if stretches and a < stretches[-1][1]:
            middle = max((a + stretches[-1][1]) / 2, stretches[-1][0])
            stretches[-1] = (stretches[-1][0], middle, stretches[-1][2])
            a = middle
        stretches.append((a, b, onset))
    return [
        Stretch(round(a, 3), round(b, 3), round(min(max(onset, a), b), 3))
        for a, b, onset in stretches
        if b > a
    ]


def speech_regions(
    pcm: PcmFile, engine: str = "silero", threshold: float = 0.5
) -> list[tuple[float, float]]:
    """Speech regions ``(start s, end s)`` of ``pcm``, padded and merged across pauses under
    ``MIN_SILENCE``; ``engine`` is ``silero`` or ``webrtc`` (:class:`ConfigError` otherwise)."""
    return merge(speech_stretches(pcm, engine, threshold), gap=MIN_SILENCE)


def voice_stretches(
    pcm: PcmFile, engine: str = "silero", threshold: float = 0.5, min_silence: float = 0.15
) -> list[tuple[float, float]]:
    """Where the voice is, seconds, unpadded (diarization wants the speech itself): split at
    pauses of ``min_silence`` s or more, the audio scanned ``BLOCK`` s at a time;
    :class:`ConfigError` for an unknown ``engine``."""
    scanners = {"silero": _silero_block, "webrtc": _webrtc_block}
    if engine not in scanners:
        raise ConfigError(
            f"unknown VAD engine {engine!r}", hint="set diarize.vad to silero or webrtc"
        )
    found: list[tuple[float, float]] = []
    start, total = 0.0, pcm.seconds
    while start < total:
        end = min(total, start + BLOCK)
        block = pcm.read(start, end)
        found += [
            (start + a, start + b) for a, b in scanners[engine](block, threshold, min_silence)
        ]
        start = end
    return [(round(a, 3), round(b, 3)) for a, b in merge(found, gap=min_silence / 2)]
