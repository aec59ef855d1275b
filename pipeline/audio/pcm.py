"""Audio for ASR: the episode decoded once to 16 kHz mono 16-bit PCM on disk, read by window.

Keeping the samples on disk and reading only the stretch being decoded is what bounds
memory on 3-hour episodes (the whole episode as float32 would be ~700 MB, and whisper's
spectrogram of it several GB).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputFileError, MissingDependencyError, TranscriptionError

SAMPLE_RATE = 16000
_BYTES = 2  # int16


@dataclass(frozen=True)
class PcmFile:
    """Decoded audio on disk: 16 kHz mono signed 16-bit little-endian samples, read in
    windows so a three-hour episode never sits in memory whole."""

    path: Path

    @property
    def samples(self) -> int:
        """How many samples the file holds."""
        return self.path.stat().st_size // _BYTES

    @property
    def seconds(self) -> float:
        """Its duration in seconds."""
        return self.samples / SAMPLE_RATE

    def read(self, start: float = 0.0, end: float | None = None) -> np.ndarray:
        """float32 samples in [-1, 1] of ``[start, end)`` seconds."""
        first = max(0, round(start * SAMPLE_RATE))
        last = self.samples if end is None else min(self.samples, round(end * SAMPLE_RATE))
        count = max(0, last - first)
        raw = np.fromfile(self.path, dtype="<i2", count=count, offset=first * _BYTES)
        return raw.astype(np.float32) / 32768.0


def decode_pcm(source: Path, target: Path) -> PcmFile:
    """Decode ``source``'s first audio stream with ffmpeg into ``target`` as 16 kHz mono
    s16le PCM. Raises :class:`MissingDependencyError` without ffmpeg and
    :class:`TranscriptionError` when ffmpeg cannot decode it."""
    command = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(source), "-map", "0:a:0"]
    command += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", str(target)]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise MissingDependencyError.program("ffmpeg", "to decode audio") from e
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "ffmpeg failed"
        raise TranscriptionError(f"cannot decode {source}: {tail}", hint="fetch the episode again")
    return PcmFile(target)


@contextmanager
def decoded_pcm(source: Path) -> Iterator[PcmFile]:
    """``source`` decoded to a temporary PCM file for the ``with`` block, then deleted.
    Raises :class:`InputFileError` (missing, undecodable) and
    :class:`MissingDependencyError` (no ffmpeg)."""
    if not Path(source).is_file():
        raise InputFileError(
            f"audio file {source} does not exist", hint="run `podpost fetch` first"
        )
    with tempfile.TemporaryDirectory(prefix="podpost-pcm-") as folder:
        try:
            pcm = decode_pcm(Path(source), Path(folder) / "audio.pcm")
        except TranscriptionError as e:
            raise InputFileError(
                e.message.replace("cannot decode", "ffmpeg cannot decode", 1),
                hint="check the file plays; refetch it",
            ) from e
        yield pcm
