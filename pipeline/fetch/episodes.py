"""Episode ids and folders for the fetch stage, and the small value parsers it shares.

    existing(config, episode_id) -> Episode | None   # a complete folder: fetch is done
    save(episode, config) -> Episode                 # writes episode.json atomically
    digest(text) / file_digest(path) / safe_id(text) -> str   # id building blocks
    parse_date(text) -> date | None                  # 20240506, 2024-05-06, ISO stamps
    language_tag(text) -> str | None                 # BCP 47: "ger" -> "de"

Ids: ``local-<sha of the file>``, ``url-<sha of the URL>``, ``feed-<sha of the item key>``,
``<extractor>-<video id>``; the hashes are 16 hex digits of SHA-256. URLs are hashed in
their redacted form, so a password never changes (or leaks into) an id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from pathlib import Path

from pipeline import store
from pipeline.config import Config
from pipeline.langtags import normalize_language
from pipeline.models import Episode


def digest(text: str | bytes) -> str:
    """The first 16 hex digits of SHA-256 of ``text`` (UTF-8 when a ``str``)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """The first 16 hex digits of SHA-256 of the file at ``path``, read in 1 MiB blocks.
    Raises ``OSError`` when it cannot be read."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def safe_id(text: str) -> str:
    """``text`` with each run of characters outside ``[A-Za-z0-9_.-]`` made one ``_`` (leading
    and trailing ``.``/``_`` dropped), usable as a folder name;
    :func:`digest` when nothing is left."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or digest(text)


def episode_dir_for(config: Config, episode: Episode) -> Path:
    """The episode's folder, ``<data_dir>/episodes/<episode.id>``; not created here."""
    return store.episode_dir(config, episode.id)


def existing(config: Config, episode_id: str) -> Episode | None:
    """The stored episode when its folder is complete: this is what makes fetch idempotent."""
    folder = store.episode_dir(config, episode_id)
    path = folder / store.EPISODE_FILE
    if not path.is_file():
        return None
    episode = store.load(path, Episode)
    if episode.audio_file and (folder / episode.audio_file).is_file():
        return episode
    return None


def save(episode: Episode, config: Config) -> Episode:
    """Write ``episode.json`` into the episode's folder atomically; returns ``episode``.
    Raises :class:`~pipeline.errors.StorageError` when it cannot be written."""
    store.save(store.episode_dir(config, episode.id) / store.EPISODE_FILE, episode)
    return episode


def parse_date(value: str | None) -> dt.date | None:
    """The date at the start of ``20240506``, ``2024-05-06`` or an ISO time stamp."""
    if not value:
        return None
    value = value.strip()
    for pattern, fmt in ((r"\d{8}", "%Y%m%d"), (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d")):
        match = re.match(pattern, value)
        if match:
            with contextlib.suppress(ValueError):
                return dt.datetime.strptime(match.group(0), fmt).date()
    return None


def language_tag(value: str | None) -> str | None:
    """BCP 47 from what containers, sites and feeds write (``en-us``, ``eng``, ``ger``)."""
    return normalize_language(value)
