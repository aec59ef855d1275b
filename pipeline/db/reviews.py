"""Review records in the state database, each with a generation for conditional writes.

A draft's review record (what ``<name>.meta.json`` held: the generated text's hash, the
decisions, the preview's turns) is a row of ``reviews`` keyed by the draft's storage key
(``drafts/<name>.md``). Every save bumps ``generation``. A save made from what a reader
saw passes that generation as ``seen``: the row is written only when nobody saved since
(``UPDATE ... WHERE generation = :seen``), so two editors cannot silently overwrite each
other; the loser gets :class:`~pipeline.errors.DraftConflictError` and reloads. This is the
one function a draft save's conditional write goes through (:func:`save_review`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

import pipeline.db.schema as schema
from pipeline.db.core import StateDB
from pipeline.errors import DraftConflictError


@dataclass(frozen=True)
class StoredReview:
    """A review record as stored: its JSON text and its generation (1 for the first save)."""

    draft_key: str
    record: str
    generation: int
    episode_id: str | None = None


def load_review(db: StateDB, draft_key: str) -> StoredReview | None:
    """The record of the draft at ``draft_key``, or None when it has none."""
    t = schema.reviews
    with db.begin() as conn:
        row = conn.execute(
            sa.select(t.c.record, t.c.generation, t.c.episode_id).where(t.c.draft_key == draft_key)
        ).first()
    return (
        None if row is None else StoredReview(draft_key, row.record, row.generation, row.episode_id)
    )


def save_review(
    db: StateDB,
    draft_key: str,
    record: str,
    *,
    seen: int | None,
    episode_id: str | None = None,
) -> int:
    """Write ``record`` (JSON) as the draft's review record if its generation is still
    ``seen`` (None: the reader saw no record); returns the new generation. Raises
    :class:`DraftConflictError` when someone saved since."""
    t = schema.reviews
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with db.begin() as conn:
        if seen is None:
            done = conn.execute(
                db.insert(t)
                .values(
                    draft_key=draft_key,
                    episode_id=episode_id,
                    generation=1,
                    record=record,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(t.c.generation)
            ).first()
            new = 1
        else:
            values: dict[str, object] = {
                "record": record,
                "generation": seen + 1,
                "updated_at": now,
            }
            if episode_id is not None:
                values["episode_id"] = episode_id
            done = conn.execute(
                t.update()
                .where(t.c.draft_key == draft_key, t.c.generation == seen)
                .values(**values)
                .returning(t.c.generation)
            ).first()
            new = seen + 1
    if done is None:  # a row was there (seen=None), or its generation moved on
        raise DraftConflictError(
            f"{draft_key} was saved by someone else meanwhile",
            hint="reload the draft, redo your change on top of theirs, and save again",
        )
    return new
