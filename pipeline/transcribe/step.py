"""Transcribe: an episode folder -> ``transcript.json``, with the backend named in config.

Public API:
    transcribe_episode(episode, episode_dir, config, *, backend=None) -> Transcript
        Runs ``backend`` (default: ``make_backend(config.asr.backend, config)``), saves the
        result as ``<episode_dir>/transcript.json`` and returns it. A file with no speech
        gives an empty transcript (no segments), never invented text, and a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.models import Episode, Transcript
from pipeline.transcribe.backends import AsrBackend, Progress, make_backend

log = logging.getLogger(__name__)


def transcribe_episode(
    episode: Episode,
    episode_dir: Path,
    config: Config,
    *,
    backend: AsrBackend | None = None,
    progress: Progress | None = None,
) -> Transcript:
    """The transcribe step: run ``backend`` (default: ``[asr] backend``) on the episode and
    save ``transcript.json`` in ``episode_dir``; returns the transcript."""
    backend = backend or make_backend(config.asr.backend, config)
    transcript = backend.transcribe(episode, Path(episode_dir), progress)
    store.save(Path(episode_dir) / store.TRANSCRIPT_FILE, transcript)
    if not transcript.segments:  # every backend's, said once for all of them
        log.warning("no speech found in %s; the transcript is empty", episode.title or episode.id)
    return transcript
