"""Any exception as the one readable line podpost shows and keeps.

    describe(e) -> (line, exit code)     # the CLI's boundary, run.json, the ledger
    one_line(e) -> str                   # the line alone
    disk_full(path, e) -> StorageError | None    # ENOSPC/EDQUOT: names the disk and the file
    mount_point(path) -> Path            # the mount a path lives on

PodpostErrors carry their own line; a few common foreign ones are translated here, so
that the line the CLI prints and the line ``run.json`` and the ledger keep for
``podpost status`` are the same, never a multi-line ``str(e)`` or a ``repr``: a disk that
is full, a missing program, an ``OSError`` with its file, an HTTP error (from Prefect's
client: podpost's own requests translate theirs where they happen), out of memory.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pipeline.errors import PodpostError, StorageError
from pipeline.tools import PROGRAMS, missing_tool

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NETWORK = 4
DEBUG_HINT = "rerun with --debug (or PODPOST_DEBUG=1) for the traceback"
_FULL = {errno.ENOSPC, errno.EDQUOT}
# SQLite's SQLITE_FULL (13): "database or disk is full"
_SQLITE_FULL = 13


def mount_point(path: Path) -> Path:
    """The mount point of the file system that holds ``path`` (or would: the nearest
    folder above it that exists)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` (or the error it was raised from) says the disk or a quota is full:
    ENOSPC/EDQUOT, or SQLite's "database or disk is full"."""
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            return True
        if getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full(path: Path | str, e: BaseException) -> StorageError | None:
    """A :class:`StorageError` naming the file and the disk when ``e`` is a full disk or
    quota (see :func:`is_disk_full`), else None: "the disk is full (no space left on
    /data) writing /data/ep/audio.mp3; free some space on /data and rerun"."""
    if not is_disk_full(e):
        return None
    where = mount_point(Path(path))
    return StorageError(
        f"the disk is full (no space left on {where}) writing {path}",
        hint=f"free some space on {where} and rerun: finished steps are kept",
    )


def describe(e: BaseException) -> tuple[str, int]:
    """(one line without the ``error:`` prefix, exit code) for any exception."""
    if isinstance(e, PodpostError):
        return e.one_line(), e.exit_code
    if isinstance(e, FileNotFoundError) and e.filename in PROGRAMS:
        return missing_tool(str(e.filename)).one_line(), EXIT_USAGE
    if isinstance(e, OSError) and e.filename and (full := disk_full(e.filename, e)):
        return full.one_line(), full.exit_code
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return _flat(f"{e.strerror}{where}"), EXIT_FAILED
    if isinstance(e, MemoryError):
        return "out of memory; close other programs or use a smaller [asr] model", EXIT_FAILED
    if is_http_error(e):
        detail = _http_detail(e)
        return (
            f"a request to the Prefect API failed ({detail}); check that the server "
            "answers (PREFECT_API_URL) and rerun: finished steps are kept",
            EXIT_NETWORK,
        )
    detail = _first_line(str(e))
    return (
        f"unexpected {type(e).__name__}{': ' + detail if detail else ''}; {DEBUG_HINT}",
        EXIT_FAILED,
    )


def one_line(e: BaseException) -> str:
    """The line of :func:`describe` alone, less the ``--debug`` hint (no use in a record):
    what ``run.json`` and the ledger keep."""
    return describe(e)[0].removesuffix(f"; {DEBUG_HINT}")


def is_http_error(e: BaseException) -> bool:
    """An httpx error: they reach a door only from Prefect's client, since podpost's own
    requests translate theirs where they happen."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        return False
    return isinstance(e, httpx.HTTPError)


def _http_detail(e: BaseException) -> str:
    """``HTTP 503 Service Unavailable for POST http://.../flow_runs/`` for an answer;
    the error's class and first line for a failure without one (a reset, a timeout)."""
    response = getattr(e, "response", None)
    request = getattr(e, "_request", None) or getattr(response, "request", None)
    if response is not None and request is not None:
        return (
            f"HTTP {response.status_code} {response.reason_phrase} for {request.method} "
            f"{request.url}"
        )
    detail = _first_line(str(e))
    return f"{type(e).__name__}: {detail}" if detail else type(e).__name__


def _flat(text: str) -> str:
    return " ".join(text.split())


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return _flat(lines[0]) if lines else ""
