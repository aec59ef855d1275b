"""Writing a draft into the drafts folder without ever losing a person's edits.

A draft is ``<drafts>/<episode id>.md``. Its record in the state database
(:mod:`pipeline.review.record`) keeps the sha256 of the text as generated. Before
writing, the pipeline asks whether the
file on disk is still what it generated; if a person edited or approved it (or the file was
never ours), the new version goes beside it as ``<id>.new.md`` (then ``.new-2.md``, ...)
and the caller says so. Writes are atomic: a crash leaves the old draft or the new one,
never half of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline import store
from pipeline.db import StateDB
from pipeline.errors import InputFileError
from pipeline.fsutil import write_atomic
from pipeline.review import flags as review

Stage = Literal["turns", "post"]  # a speakers draft, or a post to publish


@dataclass(frozen=True)
class DraftWrite:
    """Where :func:`write_draft` put the text, and the edited draft it left alone, if any."""

    path: Path  # where the new text is
    kept: Path | None = None  # the edited draft left untouched, when the text went beside it
    approved: bool = False  # the draft kept was approved (published), not edited
    translated: bool = False  # a speakers draft went beside the episode's translated draft

    @property
    def message(self) -> str:
        """One line for the user: where the draft went, and why beside an edited or
        approved one."""
        if self.kept is None:
            return f"wrote {self.path}"
        if self.translated:
            return (
                f"{self.kept} is already translated, so it was kept; the speakers draft is "
                f"{self.path}"
            )
        if self.approved:
            return (
                f"{self.kept} was approved, so it was kept as published; the new version is "
                f"{self.path} (compare them, and approve it to publish it instead)"
            )
        return (
            f"{self.kept} was edited by hand since podpost wrote it, so it was kept; "
            f"the new version is {self.path}"
        )


def find_draft(drafts_dir: Path, draft: str) -> Path:
    """``draft`` as a path when it is a file, else a name inside ``drafts_dir`` (``.md``
    optional). Raises InputFileError naming both places."""
    path = Path(draft)
    if path.is_file():
        return path
    for candidate in (Path(drafts_dir) / draft, Path(drafts_dir) / f"{draft}.md"):
        if candidate.is_file():
            return candidate
    raise InputFileError(
        f"{draft}: no such draft (looked here and in {drafts_dir})",
        hint="give the draft's path; `podpost review` lists the drafts",
    )


def draft_name(episode_id: str) -> str:
    """The draft's file name in the drafts folder: ``<episode_id>.md`` (the store's)."""
    return store.draft_name(episode_id)


def _kept_because(db: StateDB, path: Path, text: str, stage: Stage = "post") -> str | None:
    """Why ``path`` may not be (over)written with ``text`` (``edited``, ``approved``,
    ``foreign``, ``translated``), or None when it may. A speakers draft gives way to the
    episode's post (the run read its edits back into the turns before translating), and
    never replaces a translated draft."""
    if not path.exists():
        return None
    current = path.read_text(encoding="utf-8", errors="replace")
    if current == text:
        return None
    record = review.load_record(db, path)
    if record is None or not record.generated_sha256:
        return "foreign"  # a file podpost did not write: never clobber it
    if record.stage == "turns" and stage == "post":
        return None
    if record.stage == "post" and stage == "turns":
        return "translated"  # a speakers draft never replaces a translated one
    if review.is_edited(db, path):
        return "edited"
    if review.state_of(current, record) == "approved":
        return "approved"  # a person published this text: a new version is only a proposal
    return None


def _ours(db: StateDB, path: Path, text: str, stage: Stage = "post") -> bool:
    """May ``path`` be (over)written with ``text``?"""
    return _kept_because(db, path, text, stage) is None


def write_draft(
    drafts_dir: Path,
    episode_id: str,
    text: str,
    *,
    db: StateDB,
    episode_dir: Path | None = None,
    stage: Stage = "post",
) -> DraftWrite:
    """Write ``text`` as the episode's draft ``<drafts_dir>/<id>.md``, or beside it when
    the draft was edited; ``stage="turns"`` for a speakers draft; the record goes to ``db``."""
    return write_draft_file(
        Path(drafts_dir) / draft_name(episode_id),
        text,
        episode_id,
        episode_dir,
        db=db,
        stage=stage,
    )


def write_draft_file(
    target: Path,
    text: str,
    episode_id: str,
    episode_dir: Path | None = None,
    *,
    db: StateDB,
    stage: Stage = "post",
) -> DraftWrite:
    """Write ``text`` to ``target`` (any ``.md`` path), or beside it as ``<stem>.new.md``
    (``.new-2.md``, ...) when ``target`` was edited by hand or is not podpost's; records
    the generation (and its ``stage``) in ``db`` so a later edit is recognised."""
    target = Path(target)
    kept = None
    because = _kept_because(db, target, text, stage)
    if because is not None:
        kept = target
        stem = target.name.removesuffix(".md")
        candidates = [target.with_name(f"{stem}.new.md")]
        candidates += [target.with_name(f"{stem}.new-{n}.md") for n in range(2, 1000)]
        target = next(path for path in candidates if _ours(db, path, text, stage))
    write_atomic(target, text)
    review.generation_record(
        db, target, text, episode_id=episode_id, episode_dir=episode_dir, stage=stage
    )
    return DraftWrite(
        path=target, kept=kept, approved=because == "approved", translated=because == "translated"
    )
