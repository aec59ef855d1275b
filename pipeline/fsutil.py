"""Atomic file writes: a crash or a kill never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import StorageError
from pipeline.faults import disk_full

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
    the old file, if any, is untouched. A full disk names the disk to free
    (:func:`pipeline.faults.disk_full`).
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with _replacing(path) as out:
        out.write(raw)
    return path


def copy_atomic(source: Path, path: Path) -> Path:
    """Copy the file ``source`` to ``path`` as :func:`write_atomic` writes: a temporary file
    beside ``path``, removed on any failure (a full disk leaves no part of the copy), then
    renamed over it. Raises :class:`StorageError` naming ``path`` (and the disk, when full)
    for any ``OSError`` during the copy; a ``source`` that cannot be opened raises its
    ``OSError``."""
    path = Path(path)
    with open(source, "rb") as src, _replacing(path) as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return path


def storage_error(path: Path, e: OSError) -> StorageError:
    """The one-line error for an ``OSError`` writing ``path``: the disk to free when it is
    full, else the reason and :data:`STORAGE_HINT`."""
    return disk_full(path, e) or StorageError(
        f"cannot write {path}: {e.strerror or e}", hint=STORAGE_HINT
    )


@contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """A new temporary file beside ``path``, open for the block to write; flushed to disk
    and renamed over ``path`` after the block, keeping an existing file's mode; removed
    when anything fails (the block, the flush, the rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_mode = _existing_mode(path)
        fd, tmp = _create_temporary(path.parent, path.name)
    except OSError as e:
        raise storage_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as out:
            if keep_mode is not None:
                os.fchmod(out.fileno(), keep_mode)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise storage_error(path, e) from e
        raise


def sha256_of(path: Path) -> str:
    """The file's sha256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
