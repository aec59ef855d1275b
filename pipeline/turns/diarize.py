"""Who speaks when: audio in, ``SpeakerSpan`` list out, backends chosen by name.

Backends (``[diarize] backend``):

- ``builtin`` (:mod:`pipeline.turns.diarize_builtin`): no downloaded weights, CPU only;
  speech detection, MFCC statistics, Ward over-clustering, BIC merging.
- ``pyannote`` (:mod:`pipeline.turns.diarize_pyannote`): ``pip install
  'podpost[pyannote]'``; a pipeline from a local folder or a Hugging Face id.
- ``none``: everybody is one speaker (returns no spans; the turns step reads that as "S0").

Labels are ``S0``, ``S1``, ... in order of first appearance.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import DiarizeConfig
from pipeline.models import SpeakerSpan
from pipeline.registry import Registry
from pipeline.turns.diarize_builtin import builtin_backend, diarize_array, speech_chunks
from pipeline.turns.diarize_common import SAMPLE_RATE, Diarizer, load_audio, merge_spans
from pipeline.turns.diarize_pyannote import pyannote_backend

DIARIZERS: Registry[Diarizer] = Registry("diarization", "[diarize] backend")
DIARIZERS.register("builtin")(builtin_backend)
DIARIZERS.register("pyannote")(pyannote_backend)


@DIARIZERS.register("none")
def _none(config: DiarizeConfig) -> Diarizer:
    def run(audio: Path, num_speakers: int | None = None) -> list[SpeakerSpan]:
        return []

    return run


def diarize(
    audio: Path, config: DiarizeConfig, num_speakers: int | None = None
) -> list[SpeakerSpan]:
    """Spans from the configured backend; ``num_speakers`` (when known) beats
    ``config.num_speakers``. Raises :class:`~pipeline.errors.UnknownBackendError`,
    :class:`~pipeline.errors.MissingDependencyError` (pyannote absent or not allowed) and
    :class:`~pipeline.errors.InputFileError` (audio missing or undecodable)."""
    backend = DIARIZERS.get(config.backend)(config)
    return backend(audio, num_speakers or config.num_speakers)


__all__ = [
    "DIARIZERS",
    "SAMPLE_RATE",
    "Diarizer",
    "diarize",
    "diarize_array",
    "load_audio",
    "merge_spans",
    "speech_chunks",
]
