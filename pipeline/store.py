"""The episode folder: where an episode's files live, their names, and loading/saving them.

Layout: ``<data_dir>/episodes/<episode id>/`` holds ``episode.json`` and the audio file
(fetch), ``transcript.json`` (transcribe), ``turns.json`` (turns), ``editorial/``,
``editorial.json`` and ``post.json`` (editorial), and ``run.json`` (what finished, see
:mod:`pipeline.run.state`). Every write is atomic.

Every command that takes an episode ("an episode id or its folder") resolves it with
:func:`find_episode`, so the step commands, ``podpost run``, ``render``, ``status`` and
``resume`` all mean the same folder.
"""

from __future__ import annotations

from collections.abc import Sequence
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
POST_FILE = "post.json"  # the editorial result; `podpost render` renders it again
EDITORIAL_FILE = "editorial.json"  # the editorial step's summary (failures, flags, glossary)

# The command that writes each file, for the hint when it is missing.
MADE_BY = {
    EPISODE_FILE: "fetch",
    TRANSCRIPT_FILE: "transcribe",
    TURNS_FILE: "turns",
    POST_FILE: "translate",
}


def episode_dir(config: Config, episode_id: str) -> Path:
    """``<data_dir>/episodes/<episode_id>``; not created here."""
    return config.episodes_dir / episode_id


def existing_episode(config: Config, ref: str | Path) -> Path | None:
    """The episode folder ``ref`` names (a folder path, or an id under ``data_dir``), when
    it holds an ``episode.json``; None otherwise (``ref`` may then be a source to fetch)."""
    path = Path(ref).expanduser()
    if (path / EPISODE_FILE).is_file():
        return path
    if "/" not in str(ref) and str(ref) not in ("", ".", ".."):
        folder = episode_dir(config, str(ref))
        if (folder / EPISODE_FILE).is_file():
            return folder
    return None


def find_episode(config: Config, ref: str | Path, needs: Sequence[str] = (EPISODE_FILE,)) -> Path:
    """The episode folder ``ref`` names (a folder, or an episode id under ``data_dir``).

    Raises :class:`InputFileError` naming the first of ``needs`` (file names in the folder)
    that is missing and the command that makes it.
    """
    path = Path(ref).expanduser()
    folder = path if path.is_dir() else episode_dir(config, str(ref))
    for name in needs:
        if (folder / name).is_file():
            continue
        if name == EPISODE_FILE:
            raise InputFileError(
                f"{ref} is not an episode folder (no {EPISODE_FILE})",
                hint="pass a folder that `podpost fetch` wrote, or its episode id",
            )
        raise InputFileError(
            f"{folder / name} does not exist",
            hint=f"give an episode folder made by `podpost {MADE_BY.get(name, 'run')}`, "
            "or its episode id",
        )
    return folder


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
