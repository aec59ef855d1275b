"""Saving the preview's changes: validated like `podpost post check`, written atomically.

Two kinds of change reach the draft:

* the page's form (:class:`Edits`: front matter, speaker renames, headings, translations),
  applied by :func:`apply_edits` and saved by :func:`save_edits`;
* a structural edit (:mod:`pipeline.review.edits`: one turn's speaker, a split, a merge, an
  accepted re-translation), saved by :func:`commit`, which also records the turns' new
  times in the draft record so the page keeps playing each turn from its start.

Either way the edited post is validated by the model, rendered, and checked with the same
checker as ``podpost post check``; only a clean result is written (atomically). Anything
refused raises :class:`EditError` with the reason, and the file is left as it was.

No lost update: every change names the version of the draft it was based on (the sha256
of the text the page was loaded with, sent as ``If-Match`` and in the body), and
:func:`write_if_match` reads, compares and writes under the draft's lock, so of two
changes based on the same version exactly one is written; the other raises
:class:`StaleEditError` carrying the text now on disk, and the page shows both
(:func:`conflict_hunks`) for the editor to choose from.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.db import StateDB
from pipeline.errors import DraftConflictError, EditError, StaleEditError
from pipeline.models import FrontMatter, Post
from pipeline.post.parse import LIST_KEYS, analyze, check_post
from pipeline.post.render import render_post
from pipeline.review.edits import Edited, review_turns, validated
from pipeline.review.record import (
    DraftRecord,
    load_record,
    read_draft,
    save_record,
    sha256_text,
)
from pipeline.store import Store


class Edits(BaseModel):
    """What the page sends, keyed by position: the values it changed (front matter keys,
    speaker renames, headings, translations; an unchanged translation is None), so a save
    applied to a newer version than the page's keeps that version's other changes."""

    model_config = ConfigDict(extra="forbid")

    base_sha256: str
    front: dict[str, str | bool | list[str]] = Field(default_factory=dict)
    speakers: dict[str, str] = Field(default_factory=dict)  # old name -> new name
    headings: list[str | None] = Field(default_factory=list)  # one per section
    # one per turn, lines = paragraphs; None keeps the turn's translation as it is on disk
    translations: list[str | None] = Field(default_factory=list)


# --- applying edits (pure) ------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    """A textarea's text -> translation paragraphs: each non-blank line is one paragraph."""
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def apply_edits(post: Post, edits: Edits) -> tuple[Post, str]:
    """The edited post and its file text; raises EditError with the reason when invalid."""
    data = post.model_dump()
    for key, value in edits.front.items():
        if key not in FrontMatter.model_fields:
            raise EditError(f"unknown front matter key '{key}'")
        if key in LIST_KEYS:
            items = value if isinstance(value, list) else str(value).split("\n")
            value = [item.strip() for item in items if str(item).strip()]
        elif isinstance(value, str):
            value = value.strip()
        data["front"][key] = value
    turns = [turn for section in data["sections"] for turn in section["turns"]]
    if edits.translations and len(edits.translations) != len(turns):
        raise EditError(
            f"the page sent {len(edits.translations)} translations for {len(turns)} turns",
            ["reload the page and edit again"],
        )
    for turn, text in zip(turns, edits.translations, strict=False):
        if text is not None:
            turn["translation"] = paragraphs(text)
    for turn in turns:
        if turn["speaker"] in edits.speakers:
            turn["speaker"] = edits.speakers[turn["speaker"]].strip()
    if edits.headings and len(edits.headings) != len(data["sections"]):
        raise EditError(
            "the page sent headings for a different number of sections",
            ["reload the page and edit again"],
        )
    for index, (section, heading) in enumerate(zip(data["sections"], edits.headings, strict=False)):
        heading = (heading or "").strip()
        if not heading and index == 0 and section["heading"] is None:
            continue  # the opening section may stay without a heading
        section["heading"] = heading
    edited = validated(data)
    return edited, checked_text(edited)


def checked_text(post: Post) -> str:
    """The post's file text, when it passes the same checker as ``podpost post check``."""
    text = render_post(post)
    problems = check_post(text)
    if problems:
        raise EditError(
            "the edited post does not pass the post check",
            [f"line {p.line}: {p.message}" for p in problems],
        )
    return text


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def draft_lock(draft_path: Path) -> threading.Lock:
    """The one lock of a draft in this process (every request of a preview server)."""
    key = Path(draft_path).resolve()
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def current_post(draft_path: Path, base_sha256: str) -> tuple[str, Post]:
    """The draft's text and post, when it is still the text the page was loaded with;
    else :class:`StaleEditError` with the text on disk now."""
    current = read_draft(draft_path)
    if sha256_text(current) != base_sha256:
        raise StaleEditError(
            "the draft changed on disk since this page was loaded; nothing was saved",
            ["compare your version with the saved one, then keep one of them"],
            current=current,
        )
    post, problems = analyze(current)
    if post is None:
        raise EditError(
            "the draft on disk does not pass the post check; fix it first",
            [f"line {p.line}: {p.message}" for p in problems],
        )
    return current, post


def write_if_match(
    draft_path: Path,
    base_sha256: str,
    change: Callable[[str, Post], str],
    storage: Store | None = None,
) -> str:
    """The conditional write: under the draft's lock, read it, check that it is still the
    version ``base_sha256`` names, make the new text with ``change(text, post)`` and write
    it atomically (only when it differs). Returns the text now on disk. ``storage``: where
    the draft is kept (default: the local folder it is in)."""
    with draft_lock(draft_path):
        return write_if_match_locked(draft_path, base_sha256, change, storage)


def save_edits(draft_path: Path, edits: Edits, storage: Store | None = None) -> str:
    """Apply ``edits`` to the draft on disk and write it atomically; returns the new text."""
    return write_if_match(
        draft_path, edits.base_sha256, lambda _, post: apply_edits(post, edits)[1], storage
    )


def commit(
    draft_path: Path,
    base_sha256: str,
    change: Callable[[Post], Edited],
    storage: Store | None = None,
    *,
    db: StateDB,
) -> str:
    """Apply a structural edit to the draft on disk; returns the new text.

    ``change`` gets the current post (the one the page showed: same sha256) and returns the
    :class:`Edited` result of one :mod:`pipeline.review.edits` operation. The draft is
    written atomically, then its record in ``db`` keeps the turns' new times (plain text +
    spans), both under the draft's lock. The record's write is conditional on the generation
    it was read with; when another machine wrote the record in between, the turns are put
    on the record as it is now (they belong to the text this call wrote), once, and a second
    conflict raises :class:`~pipeline.errors.DraftConflictError`."""
    edited: list[Edited] = []

    def apply(_: str, post: Post) -> str:
        edited.append(change(post))
        return checked_text(edited[0].post)

    with draft_lock(draft_path):
        text = write_if_match_locked(draft_path, base_sha256, apply, storage)
        turns = review_turns(edited[0].post, edited[0].spans)
        for attempt in range(2):
            record = load_record(db, draft_path) or DraftRecord()
            record.turns = turns
            try:
                save_record(db, draft_path, record)
                break
            except DraftConflictError:
                # another machine wrote the record (a decision) since it was read: the turns
                # belong to the text just written (a conditional write), so they go on top
                # of that record, once; a second conflict is the caller's
                if attempt:
                    raise
    return text


def write_if_match_locked(
    draft_path: Path,
    base_sha256: str,
    change: Callable[[str, Post], str],
    storage: Store | None = None,
) -> str:
    """:func:`write_if_match` for a caller that holds :func:`draft_lock` already. The
    draft's lock covers this process; across machines the write itself is conditional
    (:meth:`pipeline.store.Store.put_if_version`: the stored version read before the
    text, so another editor's save in between makes this one fail, never vanish)."""
    storage = storage or Store(Path(draft_path).parent)
    version = storage.refresh(draft_path)
    current, post = current_post(draft_path, base_sha256)
    text = change(current, post)
    if text != current and not storage.put_if_version(draft_path, text.encode("utf-8"), version):
        storage.refresh(draft_path)
        raise StaleEditError(
            "the draft changed on the storage since this page was loaded; nothing was saved",
            ["compare your version with the saved one, then keep one of them"],
            current=read_draft(draft_path),
        )
    return text


def yours_text(current: str, edits: Edits) -> str | None:
    """What a refused save would have written over the draft now on disk (None when the
    edits do not apply to it)."""
    post, _ = analyze(current)
    if post is None:
        return None
    try:
        return apply_edits(post, edits)[1]
    except EditError:
        return None


def conflict_hunks(saved: str, yours: str) -> list[dict[str, list[str]]]:
    """Where two versions of a draft differ: ``{"saved": lines, "yours": lines}`` per
    place, in file order (only the lines that differ)."""
    a, b = saved.split("\n"), yours.split("\n")
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [
        {"saved": a[i1:i2], "yours": b[j1:j2]}
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]
