"""What every diarization backend shares: the backend protocol, audio in, spans out.

Labels are ``S0``, ``S1``, ... in order of first appearance; spans are seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.errors import InputFileError, MissingDependencyError
from pipeline.models import SpeakerSpan

SAMPLE_RATE = 16000


class Diarizer(Protocol):
    """A ready backend: ``(audio file, number of speakers or None) -> spans``; with the
    count unknown, ``min_speakers``/``max_speakers`` (None: the config's) bound the estimate.

    Spans are sorted, labelled ``S0``, ``S1``... in order of first appearance; an empty
    list means "one speaker" to the turns step. Raises
    :class:`~pipeline.errors.InputFileError` when the audio cannot be read.
    """

    def __call__(
        self,
        audio: Path,
        num_speakers: int | None = None,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[SpeakerSpan]:
        """Who speaks when in ``audio``."""
        ...


def load_audio(path: Path) -> np.ndarray:
    """Samples of ``path`` as mono float32 in [-1, 1] at 16 kHz, decoded by ffmpeg (any
    format it reads). Raises :class:`InputFileError` (missing, undecodable) and
    :class:`MissingDependencyError` (no ffmpeg)."""
    from whisper.audio import load_audio as whisper_load

    if not Path(path).is_file():
        raise InputFileError(f"audio file {path} does not exist", hint="run `podpost fetch` first")
    try:
        return whisper_load(str(path), SAMPLE_RATE)
    except FileNotFoundError as e:  # whisper runs ffmpeg by name
        raise MissingDependencyError.program("ffmpeg", "to decode audio") from e
    except RuntimeError as e:
        last = str(e).strip().splitlines()[-1:] or [""]
        raise InputFileError(
            f"ffmpeg cannot decode {path}: {last[0]}", hint="check the file plays; refetch it"
        ) from e


def merge_spans(spans: list[SpeakerSpan], max_gap: float = 0.5) -> list[SpeakerSpan]:
    """Join consecutive spans of one speaker separated by less than ``max_gap`` seconds."""
    out: list[SpeakerSpan] = []
    for span in sorted(spans, key=lambda s: s.start):
        last = out[-1] if out else None
        if last and last.speaker == span.speaker and span.start - last.end < max_gap:
            out[-1] = last.model_copy(update={"end": max(last.end, span.end)})
        else:
            out.append(span)
    return out


def relabel(raw: list[tuple[float, float, str]]) -> list[SpeakerSpan]:
    """Spans from ``(start s, end s, backend label)`` triples, relabelled ``S0``...
    in order of first appearance, touching spans of one speaker joined."""
    raw.sort()
    order: dict[str, str] = {}
    for _, _, label in raw:
        order.setdefault(label, f"S{len(order)}")
    return merge_spans([SpeakerSpan(start=s, end=e, speaker=order[lab]) for s, e, lab in raw], 0.0)
