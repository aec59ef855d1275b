"""The ingestion ledger: which feed items were processed, and which source is which episode.

An embedded SQLite database in the data directory (``ledger.sqlite3``), so nothing has to
run beside podpost. Two tables:

* ``items``: one row per (feed, item key): the episode it became, ``done`` or ``failed``,
  the last error, the number of attempts, and the item's enclosure URL. ``podpost ingest``
  takes the items that are not ``done``, so a failure is retried on the next ingestion and
  nothing done is redone. The enclosures are the feed's *claims* (:meth:`Ledger.claims`):
  when items share a guid, the one taken first keeps the bare guid as its key on every
  later fetch (see :mod:`pipeline.fetch.feeds`).
* ``sources``: what a source string (URL or path) resolved to, so that rerunning
  ``podpost run SOURCE`` finds the episode folder without fetching anything.
* ``fetch_failures``: runs that failed before an episode existed (the fetch itself
  failed), so ``podpost status`` lists them and ``podpost resume --all`` retries them.

Connections are short-lived and use a busy timeout: several runs (threads, processes, or
workers sharing the data directory) may write at once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import StorageError
from pipeline.faults import disk_full
from pipeline.fsutil import STORAGE_HINT
from pipeline.run.state import now_iso

LEDGER_FILE = "ledger.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    feed TEXT NOT NULL,
    item TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    episode_id TEXT,
    state TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated TEXT NOT NULL,
    enclosure TEXT,
    PRIMARY KEY (feed, item)
);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    episode_id TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fetch_failures (
    source TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    item TEXT,
    overrides TEXT NOT NULL,
    error TEXT NOT NULL,
    updated TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class LedgerItem:
    """One row of ``items``: a feed item, the episode it became, and how its last run ended."""

    feed: str
    item: str
    source: str
    title: str
    episode_id: str | None
    state: str  # done | failed
    error: str | None
    attempts: int
    updated: str
    enclosure: str | None = None  # redacted; None for rows recorded before it was kept


@dataclass(frozen=True)
class FetchFailure:
    """A run whose fetch failed: ``source`` is the URL or path it was given (to run again),
    ``overrides`` its config values, ``updated`` when it last failed (ISO 8601, UTC)."""

    source: str
    item: str | None
    overrides: dict[str, Any]
    error: str
    updated: str


class Ledger:
    """The ledger at ``path`` (created with its tables when missing).

    Every method raises :class:`~pipeline.errors.StorageError` when SQLite cannot use the
    file (locked past the busy timeout, damaged, not writable).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(
                f"cannot create the folder of the ledger {self.path}: {e.strerror or e}",
                hint=STORAGE_HINT,
            ) from e
        with self._connect() as db:
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
            if "enclosure" not in columns:  # a ledger from before enclosures were kept
                try:
                    db.execute("ALTER TABLE items ADD COLUMN enclosure TEXT")
                except sqlite3.OperationalError as e:  # another process added it first
                    if "duplicate column" not in str(e):
                        raise

    @classmethod
    def of(cls, config: Config) -> Ledger:
        """The ledger of ``config``'s data directory, ``<data_dir>/ledger.sqlite3``."""
        return cls(config.data_dir / LEDGER_FILE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=60)) as db, db:
                yield db
        except sqlite3.Error as e:
            if (full := disk_full(self.path, e)) is not None:
                raise full from e
            raise StorageError(
                f"the ledger {self.path} cannot be used: {e}",
                hint="if another ingestion holds it, wait and rerun; if it is damaged, move it "
                "away (podpost starts a new one and forgets which feed items are done)",
            ) from e

    # --- sources --------------------------------------------------------------------------

    def episode_for(self, source: str) -> str | None:
        """The episode id ``source`` (a URL or path, as given) resolved to before, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT episode_id FROM sources WHERE source = ?", (source,)
            ).fetchone()
        return row[0] if row else None

    def remember_source(self, source: str, episode_id: str) -> None:
        """Record that ``source`` is episode ``episode_id``, and drop its fetch failure."""
        with self._connect() as db:
            db.execute("DELETE FROM fetch_failures WHERE source = ?", (source,))
            db.execute(
                "INSERT INTO sources (source, episode_id, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(source) DO UPDATE SET episode_id = excluded.episode_id, "
                "updated = excluded.updated",
                (source, episode_id, now_iso()),
            )

    # --- runs that failed before their episode existed --------------------------------------

    def record_fetch_failure(
        self, key: str, url: str, item: str | None, overrides: dict[str, Any], error: str
    ) -> None:
        """Keep (or replace) the failure of a run under ``key`` (see
        :func:`pipeline.run.steps.source_key`): its ``url``, feed ``item``, config ``overrides``
        (JSON-able) and the one-line ``error``."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO fetch_failures "
                "(source, url, item, overrides, error, updated) VALUES (?, ?, ?, ?, ?, ?)",
                (key, url, item, json.dumps(overrides), error, now_iso()),
            )

    def clear_fetch_failure(self, key: str) -> None:
        """Forget the fetch failure kept under ``key``; no-op when there is none."""
        with self._connect() as db:
            db.execute("DELETE FROM fetch_failures WHERE source = ?", (key,))

    def fetch_failures(self) -> list[FetchFailure]:
        """The runs whose fetch failed, oldest failure first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT url, item, overrides, error, updated FROM fetch_failures ORDER BY updated"
            ).fetchall()
        return [
            FetchFailure(url, item, json.loads(o), error, up) for url, item, o, error, up in rows
        ]

    # --- feed items -----------------------------------------------------------------------

    def items(self, feed: str) -> dict[str, LedgerItem]:
        """``{item key: row}`` for every item of ``feed`` that was recorded."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT feed, item, source, title, episode_id, state, error, attempts, updated, "
                "enclosure FROM items WHERE feed = ?",
                (feed,),
            ).fetchall()
        return {row[1]: LedgerItem(*row) for row in rows}

    def claims(self, feed: str) -> dict[str, str]:
        """``{item key: enclosure URL}`` of the items of ``feed`` tried before: what
        :func:`pipeline.fetch.feeds.parse_feed` takes as ``claimed``."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT item, enclosure FROM items WHERE feed = ? AND enclosure IS NOT NULL",
                (feed,),
            ).fetchall()
        return dict(rows)

    def adopt_enclosure(self, feed: str, item: str, enclosure: str) -> None:
        """Give a row recorded before enclosures were kept the enclosure its key names now;
        a row that has one keeps it."""
        with self._connect() as db:
            db.execute(
                "UPDATE items SET enclosure = ? WHERE feed = ? AND item = ? AND enclosure IS NULL",
                (enclosure, feed, item),
            )

    def record(
        self,
        feed: str,
        item: str,
        *,
        source: str,
        title: str,
        state: str,
        episode_id: str | None = None,
        error: str | None = None,
        enclosure: str | None = None,
    ) -> None:
        """Record how an attempt at ``item`` of ``feed`` ended (``state``: ``done`` or
        ``failed``); counts the attempt, and keeps the known episode id and enclosure
        (redacted) when none is given."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO items (feed, item, source, title, episode_id, state, error, "
                "attempts, updated, enclosure) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT(feed, item) DO UPDATE SET source = excluded.source, "
                "title = excluded.title, episode_id = COALESCE(excluded.episode_id, "
                "items.episode_id), state = excluded.state, error = excluded.error, "
                "attempts = items.attempts + 1, updated = excluded.updated, "
                "enclosure = COALESCE(excluded.enclosure, items.enclosure)",
                (feed, item, source, title, episode_id, state, error, now_iso(), enclosure),
            )
