"""The draft record: a small JSON sidecar that tracks each draft's generation and review.

``<name>.md`` gets ``<name>.meta.json`` beside it. The pipeline writes the sha256 of the text
it generated (``generation_record``); ``podpost approve`` / ``reject`` append decisions
(``record_decision``). From these and the file on disk, ``review_state`` tells ``drafted``,
``edited``, ``approved`` or ``rejected``, and ``is_edited`` whether a person changed the
draft since the pipeline wrote it. Public names are re-exported by ``pipeline.review.flags``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import store
from pipeline.errors import InputFileError
from pipeline.fsutil import write_atomic
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
    """The sidecar ``<name>.meta.json`` of a draft (see the module docstring)."""

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


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_path(draft_path: Path) -> Path:
    """Where the record of ``draft_path`` lives: ``<name>.meta.json`` beside it."""
    return store.record_path(draft_path)


def load_record(draft_path: Path) -> DraftRecord | None:
    """The draft's record, None when it has none; InputFileError when it is broken."""
    path = record_path(draft_path)
    try:
        return DraftRecord.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as e:
        raise InputFileError(
            f"{path} is not a valid draft record: {e}",
            hint="delete it (the draft then counts as freshly drafted)",
        ) from e


def save_record(draft_path: Path, record: DraftRecord) -> Path:
    """Write the record atomically beside the draft; returns its path."""
    return write_atomic(record_path(draft_path), record.model_dump_json(indent=2) + "\n")


def _now(now: dt.datetime | None) -> str:
    return (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")


def generation_record(
    draft_path: Path,
    text: str,
    *,
    episode_id: str | None = None,
    episode_dir: Path | None = None,
    now: dt.datetime | None = None,
    stage: Literal["turns", "post"] = "post",
) -> Path:
    """Record ``text`` as what the pipeline generated at ``draft_path`` (a draft of
    ``stage``); returns the record path."""
    record = load_record(draft_path) or DraftRecord()
    record.stage = stage
    record.generated_sha256 = sha256_text(text)
    record.generated_text = text
    record.turns = None  # a new generation follows turns.json again
    record.generated_at = _now(now)
    record.episode_id = episode_id or record.episode_id
    if episode_dir is not None:
        record.episode_dir = str(Path(episode_dir).resolve())
    return save_record(draft_path, record)


def record_decision(
    draft_path: Path,
    state: Literal["approved", "rejected"],
    text: str,
    *,
    reason: str = "",
    target: Path | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Append an approval or rejection of ``text`` to the draft's record."""
    record = load_record(draft_path) or DraftRecord()
    record.decisions.append(
        Decision(
            state=state,
            at=_now(now),
            sha256=sha256_text(text),
            reason=reason,
            target=str(target) if target else None,
        )
    )
    return save_record(draft_path, record)


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


def review_state(draft_path: Path) -> State:
    """``drafted``, ``edited``, ``approved`` or ``rejected`` (see the module docstring)."""
    return state_of(read_draft(draft_path), load_record(draft_path))


def is_edited(draft_path: Path) -> bool:
    """True when the draft differs from what the pipeline last generated there."""
    record = load_record(draft_path)
    if record is None or not record.generated_sha256:
        return False
    return sha256_text(read_draft(draft_path)) != record.generated_sha256
