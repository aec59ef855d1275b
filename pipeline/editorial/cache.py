"""Finished editorial work on disk, keyed by everything that shaped it.

A key is the sha256 of the model, the prompt version and the request's inputs, so a
rerun finds every finished chunk and a changed input (another model, a corrected turn,
a new glossary) misses. Each entry is written atomically the moment its work is done:
a run killed halfway keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.fsutil import write_atomic


def cache_key(kind: str, inputs: Any) -> str:
    """``<kind>-<32 hex digits>``: a sha256 of ``kind`` and the JSON of ``inputs``."""
    raw = json.dumps([kind, inputs], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:32]}"


class Cache:
    """JSON objects by key in ``folder`` (one file each); ``folder`` None caches nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The object stored under ``key``; None when missing or unreadable."""
        if self.folder is None:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing, or unreadable: do the work again
        return data if isinstance(data, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` atomically (:class:`StorageError` if it cannot)."""
        if self.folder is not None:
            write_atomic(self._path(key), json.dumps(value, ensure_ascii=False, indent=1))
