"""The draft record: what tracks each draft's generation and review, in the state database.

Each draft ``<name>.md`` has one record, a row of the state database's ``reviews`` table
(:mod:`pipeline.db.reviews`) keyed by the draft's storage key ``drafts/<name>.md``, so every
machine with the same ``[state] url`` reads and writes the same record. The pipeline writes
the sha256 of the text it generated (``generation_record``); ``podpost approve`` /
``reject`` append decisions (``record_decision``). From these and the draft's text,
``review_state`` tells ``drafted``, ``edited``, ``approved`` or ``rejected``, and
``is_edited`` whether a person changed the draft since the pipeline wrote it.

Every function takes the open :class:`~pipeline.db.StateDB` first. A loaded record carries
the row's ``generation``; saving it is a conditional write on that generation, so of two
writers who loaded the same record the second gets
:class:`~pipeline.errors.DraftConflictError` (reload and redo). A draft whose record the
database lacks but that has an older release's sidecar ``<name>.meta.json`` beside it
(a folder the import has not seen) is read from the sidecar; the sidecar is never written.
Public names are re-exported by ``pipeline.review.flags``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import store
from pipeline.db import StateDB
from pipeline.db.reviews import load_review, save_review
from pipeline.errors import InputFileError
from pipeline.models import Turn

State = Literal["drafted", "edited", "approved", "rejected"]
STATES: tuple[State, ...] = ("drafted", "edited", "approved", "rejected")


class Decision(BaseModel):
    """An approval or a rejection, and the text it was made on."""

    model_config = ConfigDict(extra="ignore")

    state: Literal["approved", "rejected"]
    at: str
    sha256: str  # the draft text decided on
    reason: str = ""
    target: str | None = None  # where an approved post was written


class DraftRecord(BaseModel):
    """The review record of a draft (see the module docstring). ``generation`` is the
    database row's as loaded (None: not stored yet); it is not part of the stored JSON."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    generated_sha256: str | None = None
    generated_at: str | None = None
    episode_id: str | None = None
    episode_dir: str | None = None
    decisions: list[Decision] = Field(default_factory=list)
    # The text as generated, so the preview can show what changed since.
    generated_text: str | None = None
    # The episode's turns as the preview's split/merge left them (None: turns.json as is).
    turns: list[Turn] | None = None
    # "turns": a speakers draft (`run --until turns`, pipeline.review.speakers), whose
    # edits the next run reads back before translating; "post": a draft to publish.
    stage: Literal["turns", "post"] = "post"
    generation: int | None = Field(default=None, exclude=True)


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_key(draft_path: Path) -> str:
    """The draft's storage key, which keys its record: ``drafts/<name>.md``, or
    ``episodes/<id>/<name>.md`` for a draft in an episode's folder (``podpost translate``)."""
    path = Path(draft_path).resolve()
    if path.parent.parent.name == store.EPISODES:
        return f"{store.EPISODES}/{path.parent.name}/{path.name}"
    return f"{store.DRAFTS}/{path.name}"


def record_path(draft_path: Path) -> Path:
    """Where an older release kept the record of ``draft_path``: ``<name>.meta.json``
    beside it (read only as a fallback, see the module docstring)."""
    return store.record_path(draft_path)


def _parse(data: str | bytes, where: str) -> DraftRecord:
    try:
        return DraftRecord.model_validate_json(data)
    except (ValidationError, ValueError) as e:
        raise InputFileError(
            f"{where} is not a valid draft record: {e}",
            hint="delete it (the draft then counts as freshly drafted)",
        ) from e


def load_record(db: StateDB, draft_path: Path) -> DraftRecord | None:
    """The draft's record with its generation, None when it has none; InputFileError
    when it is broken."""
    key = record_key(draft_path)
    stored = load_review(db, key)
    if stored is not None:
        record = _parse(stored.record, f"the review record of {key}")
        record.generation = stored.generation
        return record
    path = record_path(draft_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputFileError(
            f"{path} cannot be read: {e}", hint="check the file, or delete it"
        ) from e
    return _parse(data, str(path))


def save_record(db: StateDB, draft_path: Path, record: DraftRecord) -> int:
    """Store ``record`` as the draft's record if nobody saved it since it was loaded (its
    ``generation``); returns the new generation (also set on ``record``). Raises
    :class:`~pipeline.errors.DraftConflictError` when someone did."""
    record.generation = save_review(
        db,
        record_key(draft_path),
        record.model_dump_json(),
        seen=record.generation,
        episode_id=record.episode_id,
    )
    return record.generation


def _now(now: dt.datetime | None) -> str:
    return (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")


def generation_record(
    db: StateDB,
    draft_path: Path,
    text: str,
    *,
    episode_id: str | None = None,
    episode_dir: Path | None = None,
    now: dt.datetime | None = None,
    stage: Literal["turns", "post"] = "post",
) -> int:
    """Record ``text`` as what the pipeline generated at ``draft_path`` (a draft of
    ``stage``); returns the record's new generation."""
    record = load_record(db, draft_path) or DraftRecord()
    record.stage = stage
    record.generated_sha256 = sha256_text(text)
    record.generated_text = text
    record.turns = None  # a new generation follows turns.json again
    record.generated_at = _now(now)
    record.episode_id = episode_id or record.episode_id
    if episode_dir is not None:
        folder = Path(episode_dir).resolve()
        # an episodes/<id> folder is found by the id on every machine: no path is stored
        plain = record.episode_id and folder.parts[-2:] == (store.EPISODES, record.episode_id)
        record.episode_dir = None if plain else str(folder)
    return save_record(db, draft_path, record)


def record_decision(
    db: StateDB,
    draft_path: Path,
    state: Literal["approved", "rejected"],
    text: str,
    *,
    reason: str = "",
    target: Path | None = None,
    now: dt.datetime | None = None,
    record: DraftRecord | None = None,
) -> int:
    """Append an approval or rejection of ``text`` to the draft's record; returns its new
    generation. ``record``: the record the decision was made on, as loaded; the write is
    conditional on its generation (default: the record as it is now)."""
    if record is None:
        record = load_record(db, draft_path) or DraftRecord()
    else:
        record = record.model_copy(deep=True)
    record.decisions.append(
        Decision(
            state=state,
            at=_now(now),
            sha256=sha256_text(text),
            reason=reason,
            target=str(target) if target else None,
        )
    )
    return save_record(db, draft_path, record)


def state_of(text: str, record: DraftRecord | None) -> State:
    """The review state of ``text`` given its record (see :func:`review_state`)."""
    if record is None:
        return "drafted"
    current = sha256_text(text)
    if record.decisions and record.decisions[-1].sha256 == current:
        return record.decisions[-1].state
    if record.generated_sha256 and record.generated_sha256 != current:
        return "edited"
    if not record.generated_sha256 and record.decisions:
        return "edited"  # decided on another text, and nothing says this one was generated
    return "drafted"


def read_draft(draft_path: Path) -> str:
    """The draft's text; InputFileError (one line) when it cannot be read."""
    try:
        return Path(draft_path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputFileError(f"{draft_path}: no such draft", hint="check the path") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{draft_path}: cannot read: {e}", hint="check the file") from e


def review_state(db: StateDB, draft_path: Path) -> State:
    """``drafted``, ``edited``, ``approved`` or ``rejected`` (see the module docstring)."""
    return state_of(read_draft(draft_path), load_record(db, draft_path))


def is_edited(db: StateDB, draft_path: Path) -> bool:
    """True when the draft differs from what the pipeline last generated there."""
    record = load_record(db, draft_path)
    if record is None or not record.generated_sha256:
        return False
    return sha256_text(read_draft(draft_path)) != record.generated_sha256
