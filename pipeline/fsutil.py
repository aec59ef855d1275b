"""Atomic file writes: a crash or a kill never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import StorageError

STORAGE_HINT = "check free disk space and the folder's permissions"


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` via a temporary file in the same folder
    and ``os.replace``, creating missing folders; returns ``path``.

    Raises :class:`StorageError` (chained to the ``OSError``) when the folder or the file
    cannot be written; the old file, if any, is then untouched.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise StorageError(f"cannot write {path}: {e.strerror or e}", hint=STORAGE_HINT) from e
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {e.strerror or e}", hint=STORAGE_HINT) from e
    except BaseException:  # an interrupt: leave no temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
