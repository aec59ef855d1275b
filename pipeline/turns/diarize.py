"""Who speaks when: audio in, ``SpeakerSpan`` list out, backends chosen by name.

Backends (``[diarize] backend``):

- ``builtin`` (:mod:`pipeline.turns.diarize_builtin`): CPU only, nothing downloaded with the
  default speaker encoder; Silero VAD, speaker embeddings, agglomerative clustering.
- ``pyannote`` (:mod:`pipeline.turns.diarize_pyannote`): ``pip install
  'podpost[pyannote]'``; a pipeline from a local folder or a Hugging Face id.
- ``none``: everybody is one speaker (returns no spans; the turns step reads that as "S0").

Labels are ``S0``, ``S1``, ... in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config, DiarizeConfig
from pipeline.models import Episode, SpeakerSpan
from pipeline.registry import Registry
from pipeline.turns.diarize_builtin import builtin_backend, diarize_stretches
from pipeline.turns.diarize_common import SAMPLE_RATE, Diarizer, load_audio, merge_spans
from pipeline.turns.diarize_pyannote import pyannote_backend

DIARIZERS: Registry[Diarizer] = Registry("diarization", "[diarize] backend")
DIARIZERS.register("builtin")(builtin_backend)
DIARIZERS.register("pyannote")(pyannote_backend)


@DIARIZERS.register("none")
def _none(config: DiarizeConfig) -> Diarizer:
    def run(
        audio: Path,
        num_speakers: int | None = None,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[SpeakerSpan]:
        return []

    return run


@dataclass(frozen=True)
class SpeakerCount:
    """What diarization is told about the number of speakers: exactly ``num``, or (``num``
    None) an estimate between ``low`` and ``high``."""

    num: int | None
    low: int
    high: int


def speaker_count(episode: Episode, config: Config) -> SpeakerCount:
    """The count from the config (``--num-speakers``) or the override's names; otherwise
    bounds: ``[diarize] min/max_speakers``, raised by the metadata's guests (the host and
    every guest named: at least ``1 + guests``, and room for more, such as an unnamed
    co-host). Guests bound the count; they do not fix it."""
    d = config.diarize
    if d.num_speakers:
        return SpeakerCount(d.num_speakers, d.num_speakers, d.num_speakers)
    if config.turns.speakers:
        n = len(config.turns.speakers)
        return SpeakerCount(n, n, n)
    low, high = d.min_speakers, max(d.min_speakers, d.max_speakers)
    if episode.guests:
        high = max(high, 2 + len(episode.guests))
        low = max(low, 1 + len(episode.guests))
    return SpeakerCount(None, low, high)


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
    "SpeakerCount",
    "diarize",
    "diarize_stretches",
    "load_audio",
    "merge_spans",
    "speaker_count",
]
