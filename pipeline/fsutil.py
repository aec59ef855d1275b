"""Atomic file writes: a crash or a kill never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from pipeline.errors import StorageError

STORAGE_HINT = "check free disk space and the folder's permissions"

_NEW_FILE_MODE = 0o666  # the kernel applies the umask, as for open(path, "w")
_ATTEMPTS = 100


def _existing_mode(path: Path) -> int | None:
    """Permission bits of the file at ``path`` (following a symlink), or None if there is none."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    # Not tempfile.mkstemp: it creates 0600 files, and a site built by another user (or a
    # web server) could then not read the post. O_CREAT with 0666 lets the umask decide.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, _NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name} in {folder}")


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return ``path``.

    ``data`` is bytes, or text written as UTF-8 (no newline translation). The bytes go to a
    temporary file in the same folder (created if missing), are flushed to disk, and the
    file is renamed over ``path`` with ``os.replace``, so readers see the old file or the
    new one, never a part. Modes: a new file gets ``0666`` less the umask (``0644`` under
    ``022``), exactly as ``open(path, "w")`` would; a file that is replaced keeps its
    permission bits (a ``0640`` draft stays ``0640``). A symlink at ``path`` is replaced by
    a regular file. Raises :class:`StorageError`, chained to the ``OSError`` (the folder is
    not writable, the disk is full, ...); the temporary file is removed on any failure and
    the old file, if any, is untouched.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_mode = _existing_mode(path)
        fd, tmp = _create_temporary(path.parent, path.name)
    except OSError as e:
        raise StorageError(f"cannot write {path}: {e.strerror or e}", hint=STORAGE_HINT) from e
    try:
        with os.fdopen(fd, "wb") as handle:
            if keep_mode is not None:
                os.fchmod(handle.fileno(), keep_mode)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise StorageError(f"cannot write {path}: {e.strerror or e}", hint=STORAGE_HINT) from e
        raise
    return path
