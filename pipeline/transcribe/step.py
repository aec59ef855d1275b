"""Transcribe: an episode folder -> ``transcript.json``, with the backend named in config.

Public API:
    transcribe_episode(episode, episode_dir, config, *, backend=None) -> Transcript
        Runs ``backend`` (default: ``make_backend(config.asr.backend, config)``), saves the
        result as ``<episode_dir>/transcript.json`` and returns it. A file with no speech
        gives an empty transcript (no segments), never invented text.
    load_episode_dir(path) -> (Episode, Path)      # an episode folder given on the CLI
"""

from __future__ import annotations

from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.errors import InputFileError
from pipeline.models import Episode, Transcript
from pipeline.transcribe.backends import AsrBackend, Progress, make_backend


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
    return transcript


def load_episode_dir(path: Path) -> tuple[Episode, Path]:
    """The episode stored in folder ``path``, and the folder; :class:`InputFileError`
    when it is not an episode folder or its ``episode.json`` is invalid."""
    folder = Path(path)
    if not (folder / store.EPISODE_FILE).is_file():
        raise InputFileError(
            f"{folder} is not an episode folder (no {store.EPISODE_FILE})",
            hint="pass a source to fetch, or a folder that `podpost fetch` wrote",
        )
    return store.load(folder / store.EPISODE_FILE, Episode), folder
