"""First-use download of a speaker model: a progress bar, a pinned sha256, an atomic write.

``fetch(url, target)`` is injectable (tests serve the bytes from 127.0.0.1); the default
streams over HTTP with httpx and shows a tqdm bar on stderr.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.errors import NetworkError
from pipeline.fsutil import sha256_of


def http_fetch(url: str, target: Path) -> None:
    """Stream ``url`` into ``target`` with a progress bar; :class:`NetworkError` on failure."""
    import httpx
    from tqdm import tqdm

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0) or None
            with (
                target.open("wb") as f,
                tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1]) as bar,
            ):
                for chunk in response.iter_bytes(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
    except httpx.HTTPError as e:
        raise NetworkError(
            f"cannot download {url}: {e}",
            hint="check the network, or download the file yourself and set [diarize] "
            "embedding to its path",
        ) from e


def ensure_model(
    name: str, model: Any, models_dir: Path, fetch: Callable[[str, Path], None] | None = None
) -> Path:
    """``models_dir/<name>.onnx``, downloaded from ``model.url`` if absent and checked
    against ``model.sha256`` (a mismatch deletes the download and raises
    :class:`NetworkError`); a file already there is trusted once it matched."""
    target = models_dir / f"{name}.onnx"
    if target.is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=models_dir, prefix=f".{name}.", suffix=".part")
    os.close(handle)
    part = Path(temporary)
    try:
        (fetch or http_fetch)(model.url, part)
        got = sha256_of(part)
        if got != model.sha256:
            raise NetworkError(
                f"the download of {name} from {model.url} is corrupt or changed "
                f"(sha256 {got}, expected {model.sha256})",
                hint="try again; if it persists download the model yourself and set "
                "[diarize] embedding to its path",
            )
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target
