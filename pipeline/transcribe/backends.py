"""Speech-to-text backends, chosen by name (``[asr] backend``).

Public API:
    AsrBackend                         # protocol: ``.name``, ``.transcribe(episode, dir)``
    ASR_BACKENDS     # the Registry: "whisper", "faster-whisper", "captions", "auto"
    make_backend(name, config) -> AsrBackend

A backend reads the episode folder (audio, saved captions) and returns a ``Transcript``;
saving it is ``pipeline.transcribe.step``'s job. Heavy imports (torch, whisper) happen only when
a whisper backend is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pipeline.registry import Registry
from pipeline.transcribe.progress import Progress

if TYPE_CHECKING:  # annotations only: the CLI imports this module for the names in --help
    from pipeline.config import Config
    from pipeline.models import Episode, Transcript


class AsrBackend(Protocol):
    """A transcription backend, made from the config by :func:`make_backend`."""

    name: str

    def transcribe(
        self, episode: Episode, episode_dir: Path, progress: Progress | None = None
    ) -> Transcript:
        """The episode's transcript from the audio (or captions) in ``episode_dir``;
        ``progress(done s, total s)`` as it goes. Raises a
        :class:`~pipeline.errors.PodpostError` subclass when it cannot."""
        ...


ASR_BACKENDS: Registry[AsrBackend] = Registry("ASR", "asr.backend")


@ASR_BACKENDS.register("whisper")
def _whisper(config: Config) -> AsrBackend:
    from pipeline.transcribe.whisper_backend import WhisperBackend

    return WhisperBackend(config)


@ASR_BACKENDS.register("faster-whisper")
def _faster_whisper(config: Config) -> AsrBackend:
    from pipeline.transcribe.faster_whisper_backend import FasterWhisperBackend

    return FasterWhisperBackend(config)


@ASR_BACKENDS.register("captions")
def _captions(config: Config) -> AsrBackend:
    from pipeline.transcribe.captions_backend import CaptionsBackend

    return CaptionsBackend(config)


@ASR_BACKENDS.register("auto")
def _auto(config: Config) -> AsrBackend:
    from pipeline.transcribe.captions_backend import AutoBackend

    return AutoBackend(config)


def make_backend(name: str, config: Config) -> AsrBackend:
    """The backend registered as ``name`` (``whisper``, ``captions``, ``auto``);
    :class:`~pipeline.errors.UnknownBackendError` lists the names otherwise."""
    return ASR_BACKENDS.get(name)(config)
