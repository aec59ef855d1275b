"""Voice activity detection, so silence and music are never given to the decoder.

Public API:
    speech_regions(pcm, engine="silero", threshold=0.5) -> list[tuple[float, float]]

Works offline: silero-vad ships its model inside the package; webrtcvad is pure C.
The audio is scanned in blocks (bounded memory); regions closer than ``MIN_SILENCE``
seconds are merged and each is padded by ``PAD`` seconds, as faster-whisper does, so
sentence pauses stay inside one region and whisper gets long, natural clips.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from pipeline.errors import ConfigError
from pipeline.transcribe.audio import SAMPLE_RATE, PcmFile

MIN_SILENCE = 2.0  # seconds of non-speech that separate two regions
PAD = 0.4  # seconds added on each side of a region
BLOCK = 600.0  # seconds of audio scanned at a time


@cache
def _silero() -> Any:
    from silero_vad import load_silero_vad

    return load_silero_vad()


def _silero_block(samples: np.ndarray, threshold: float) -> list[tuple[float, float]]:
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(
        torch.from_numpy(samples),
        _silero(),
        threshold=threshold,
        sampling_rate=SAMPLE_RATE,
        min_speech_duration_ms=250,
        min_silence_duration_ms=int(MIN_SILENCE * 1000),
        speech_pad_ms=0,
    )
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def _webrtc_block(samples: np.ndarray, threshold: float) -> list[tuple[float, float]]:
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
    return [r for r in merge(regions, gap=0.0) if r[1] - r[0] >= 0.25]


def merge(regions: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """``regions`` sorted, with those less than ``gap`` seconds apart joined."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(regions):
        if merged and start - merged[-1][1] <= gap + 1e-9:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def speech_regions(
    pcm: PcmFile, engine: str = "silero", threshold: float = 0.5
) -> list[tuple[float, float]]:
    """Speech regions ``(start s, end s)`` of ``pcm``, padded and merged across short
    pauses; ``engine`` is ``silero`` or ``webrtc`` (:class:`ConfigError` otherwise)."""
    scanners = {"silero": _silero_block, "webrtc": _webrtc_block}
    if engine not in scanners:
        raise ConfigError(
            f"unknown VAD engine {engine!r}", hint="set asr.vad_engine to silero or webrtc"
        )
    regions: list[tuple[float, float]] = []
    total = pcm.seconds
    start = 0.0
    while start < total:
        end = min(total, start + BLOCK)
        found = scanners[engine](pcm.read(start, end), threshold)
        regions += [(start + a, start + b) for a, b in found]
        start = end
    padded = [(max(0.0, a - PAD), min(total, b + PAD)) for a, b in regions]
    return [(round(a, 3), round(b, 3)) for a, b in merge(padded, gap=MIN_SILENCE)]
