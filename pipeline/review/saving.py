"""Saving the preview's changes: validated like `podpost post check`, written atomically.

Two kinds of change reach the draft:

* the page's form (:class:`Edits`: front matter, speaker renames, headings, translations),
  applied by :func:`apply_edits` and saved by :func:`save_edits`;
* a structural edit (:mod:`pipeline.review.edits`: one turn's speaker, a split, a merge, an
  accepted re-translation), saved by :func:`commit`, which also records the turns' new
  times in the draft record so the page keeps playing each turn from its start.

Either way the edited post is validated by the model, rendered, and checked with the same
checker as ``podpost post check``; only a clean result is written (atomically), and a save
against a file that changed on disk since the page loaded is refused. Anything refused
raises :class:`EditError` with the reason, and the file is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import EditError
from pipeline.fsutil import write_atomic
from pipeline.models import FrontMatter, Post
from pipeline.post.parse import LIST_KEYS, analyze, check_post
from pipeline.post.render import render_post
from pipeline.review.edits import Edited, review_turns, validated
from pipeline.review.record import DraftRecord, load_record, read_draft, save_record, sha256_text


class Edits(BaseModel):
    """What the page sends: the whole editable state, keyed by position."""

    model_config = ConfigDict(extra="forbid")

    base_sha256: str
    front: dict[str, str | bool | list[str]] = Field(default_factory=dict)
    speakers: dict[str, str] = Field(default_factory=dict)  # old name -> new name
    headings: list[str | None] = Field(default_factory=list)  # one per section
    translations: list[str] = Field(default_factory=list)  # one per turn; lines = paragraphs


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


def current_post(draft_path: Path, base_sha256: str) -> tuple[str, Post]:
    """The draft's text and post, when it is still the text the page was loaded with."""
    current = read_draft(draft_path)
    if sha256_text(current) != base_sha256:
        raise EditError(
            "the draft changed on disk since this page was loaded; nothing was saved",
            ["reload the page (your edits in it will be lost) and edit again"],
        )
    post, problems = analyze(current)
    if post is None:
        raise EditError(
            "the draft on disk does not pass the post check; fix it first",
            [f"line {p.line}: {p.message}" for p in problems],
        )
    return current, post


def save_edits(draft_path: Path, edits: Edits) -> str:
    """Apply ``edits`` to the draft on disk and write it atomically; returns the new text."""
    current, post = current_post(draft_path, edits.base_sha256)
    _, text = apply_edits(post, edits)
    if text != current:
        write_atomic(draft_path, text)
    return text


def commit(draft_path: Path, base_sha256: str, change: Callable[[Post], Edited]) -> str:
    """Apply a structural edit to the draft on disk; returns the new text.

    ``change`` gets the current post (the one the page showed: same sha256) and returns the
    :class:`Edited` result of one :mod:`pipeline.review.edits` operation. The draft is
    written atomically, then its record keeps the turns' new times (plain text + spans)."""
    current, post = current_post(draft_path, base_sha256)
    edited = change(post)
    text = checked_text(edited.post)
    if text != current:
        write_atomic(draft_path, text)
    record = load_record(draft_path) or DraftRecord()
    record.turns = review_turns(edited.post, edited.spans)
    save_record(draft_path, record)
    return text
