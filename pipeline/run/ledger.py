"""The ingestion ledger: which feed items were processed, and which source is which episode.

Three tables of the state database (:mod:`pipeline.db`; SQLite in the data folder by
default, PostgreSQL for several machines):

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

Every method is one short transaction: several runs (threads, processes, machines) may
write at once. A ledger file of an older release (``ledger.sqlite3``) is imported into the
database on its first open (:mod:`pipeline.db.legacy`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pipeline.config import Config
from pipeline.db import StateDB, open_state, open_url, schema
from pipeline.run.state import now_iso


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
    """The ledger in the state database ``db`` (a :class:`~pipeline.db.StateDB`, or the
    path of a SQLite file to use as one).

    Every method raises :class:`~pipeline.errors.StorageError` when the database cannot be
    used (locked past the busy timeout, damaged, not writable, unreachable).
    """

    def __init__(self, db: StateDB | Path) -> None:
        self.db = db if isinstance(db, StateDB) else open_url(f"sqlite:///{Path(db)}")

    @classmethod
    def of(cls, config: Config) -> Ledger:
        """The ledger of ``config``'s state database (``[state] url``)."""
        return cls(open_state(config))

    # --- sources --------------------------------------------------------------------------

    def episode_for(self, source: str) -> str | None:
        """The episode id ``source`` (a URL or path, as given) resolved to before, or None."""
        t = schema.sources
        with self.db.begin() as conn:
            return conn.execute(
                sa.select(t.c.episode_id).where(t.c.source == source)
            ).scalar_one_or_none()

    def remember_source(self, source: str, episode_id: str) -> None:
        """Record that ``source`` is episode ``episode_id``, and drop its fetch failure."""
        t = schema.sources
        with self.db.begin() as conn:
            conn.execute(
                schema.fetch_failures.delete().where(schema.fetch_failures.c.source == source)
            )
            stmt = self.db.insert(t).values(source=source, episode_id=episode_id, updated=now_iso())
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.source],
                    set_={"episode_id": stmt.excluded.episode_id, "updated": stmt.excluded.updated},
                )
            )

    # --- runs that failed before their episode existed --------------------------------------

    def record_fetch_failure(
        self, key: str, url: str, item: str | None, overrides: dict[str, Any], error: str
    ) -> None:
        """Keep (or replace) the failure of a run under ``key`` (see
        :func:`pipeline.run.steps.source_key`): its ``url``, feed ``item``, config ``overrides``
        (JSON-able) and the one-line ``error``."""
        t = schema.fetch_failures
        values = {
            "source": key,
            "url": url,
            "item": item,
            "overrides": json.dumps(overrides),
            "error": error,
            "updated": now_iso(),
        }
        with self.db.begin() as conn:
            stmt = self.db.insert(t).values(**values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.source],
                    set_={k: stmt.excluded[k] for k in values if k != "source"},
                )
            )

    def clear_fetch_failure(self, key: str) -> None:
        """Forget the fetch failure kept under ``key``; no-op when there is none."""
        with self.db.begin() as conn:
            conn.execute(
                schema.fetch_failures.delete().where(schema.fetch_failures.c.source == key)
            )

    def fetch_failures(self) -> list[FetchFailure]:
        """The runs whose fetch failed, oldest failure first."""
        t = schema.fetch_failures
        with self.db.begin() as conn:
            rows = conn.execute(
                sa.select(t.c.url, t.c.item, t.c.overrides, t.c.error, t.c.updated).order_by(
                    t.c.updated, t.c.source
                )
            ).all()
        return [
            FetchFailure(url, item, json.loads(o), error, up) for url, item, o, error, up in rows
        ]

    # --- feed items -----------------------------------------------------------------------

    def items(self, feed: str) -> dict[str, LedgerItem]:
        """``{item key: row}`` for every item of ``feed`` that was recorded."""
        t = schema.items
        with self.db.begin() as conn:
            rows = conn.execute(sa.select(t).where(t.c.feed == feed)).mappings().all()
        return {row["item"]: LedgerItem(**row) for row in rows}

    def claims(self, feed: str) -> dict[str, str]:
        """``{item key: enclosure URL}`` of the items of ``feed`` tried before: what
        :func:`pipeline.fetch.feeds.parse_feed` takes as ``claimed``."""
        t = schema.items
        with self.db.begin() as conn:
            rows = conn.execute(
                sa.select(t.c.item, t.c.enclosure).where(
                    t.c.feed == feed, t.c.enclosure.is_not(None)
                )
            ).all()
        return {item: enclosure for item, enclosure in rows}

    def adopt_enclosure(self, feed: str, item: str, enclosure: str) -> None:
        """Give a row recorded before enclosures were kept the enclosure its key names now;
        a row that has one keeps it."""
        t = schema.items
        with self.db.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.feed == feed, t.c.item == item, t.c.enclosure.is_(None))
                .values(enclosure=enclosure)
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
        t = schema.items
        stmt = self.db.insert(t).values(
            feed=feed, item=item, source=source, title=title, episode_id=episode_id,
            state=state, error=error, attempts=1, updated=now_iso(), enclosure=enclosure,
        )  # fmt: skip
        new = stmt.excluded
        with self.db.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.c.feed, t.c.item],
                    set_={
                        "source": new.source,
                        "title": new.title,
                        "episode_id": sa.func.coalesce(new.episode_id, t.c.episode_id),
                        "state": new.state,
                        "error": new.error,
                        "attempts": t.c.attempts + 1,
                        "updated": new.updated,
                        "enclosure": sa.func.coalesce(new.enclosure, t.c.enclosure),
                    },
                )
            )
