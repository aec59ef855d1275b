"""Where an episode's files live, and reading/writing the models stored there.

Layout: ``<data_dir>/episodes/<episode id>/`` holds ``episode.json``, the audio file,
``transcript.json``, ``turns.json`` and the editorial results. Every write is atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.config import Config
from pipeline.errors import InputFileError
from pipeline.fsutil import write_atomic

M = TypeVar("M", bound=BaseModel)

EPISODE_FILE = "episode.json"
TRANSCRIPT_FILE = "transcript.json"
TURNS_FILE = "turns.json"


def episode_dir(config: Config, episode_id: str) -> Path:
    """``<data_dir>/episodes/<episode_id>``; not created here."""
    return config.episodes_dir / episode_id


def save(path: Path, model: BaseModel) -> Path:
    """Write ``model`` as indented JSON to ``path`` atomically; returns ``path``.
    Raises :class:`~pipeline.errors.StorageError` when it cannot be written."""
    return write_atomic(path, model.model_dump_json(indent=2))


def load(path: Path, cls: type[M]) -> M:
    """The ``cls`` instance stored as JSON at ``path``.

    Raises :class:`InputFileError` when the file is missing, unreadable, or not a valid
    ``cls`` (the message says which, and which step remakes it).
    """
    try:
        return cls.model_validate_json(Path(path).read_bytes())
    except FileNotFoundError as e:
        raise InputFileError(f"{path} does not exist", hint="run the step that makes it") from e
    except OSError as e:  # a folder in its place, no permission, an I/O error
        raise InputFileError(
            f"cannot read {path}: {e.strerror or e}", hint="check the file and its permissions"
        ) from e
    except ValidationError as e:
        raise InputFileError(
            f"{path} is not a valid {cls.__name__}: {e.errors()[0]['msg']}",
            hint="delete it and rerun the step that makes it",
        ) from e
