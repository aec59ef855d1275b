"""Approve a draft into the site's content folder, or reject it; both are recorded.

``approve`` sets ``draft: false``, checks the result with the post checker, and writes it
atomically as ``<date>-<slug of title>.md`` inside the content folder. The slug comes from
python-slugify, so it is ASCII letters, digits and hyphens whatever the title (``../``,
slashes, only punctuation, CJK); the resolved path is checked to sit in the folder anyway.
A different file already at that path is never replaced without ``force``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from slugify import slugify

from pipeline.errors import DraftConflictError, PostFormatError, UsageError
from pipeline.fsutil import write_atomic
from pipeline.models import FrontMatter
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.record import read_draft, record_decision

MAX_SLUG_LENGTH = 80
FALLBACK_SLUG = "post"


def slug_for(front: FrontMatter) -> str:
    """``YYYY-MM-DD-title-words``; a title with no usable characters gives ``...-post``."""
    title = slugify(front.title, max_length=MAX_SLUG_LENGTH, word_boundary=True) or FALLBACK_SLUG
    date = slugify(front.date)
    return f"{date}-{title}" if date else title


def target_path(content_dir: Path, front: FrontMatter) -> Path:
    """``<content_dir>/<slug>.md`` for the post (see :func:`slug_for`), resolved. Raises
    :class:`~pipeline.errors.UsageError` if it would fall outside ``content_dir``."""
    folder = Path(content_dir).resolve()
    target = (folder / f"{slug_for(front)}.md").resolve()
    if target.parent != folder:  # slugify guarantees this; a bug here must not write elsewhere
        raise UsageError(f"refusing to write {target}: outside {folder}")
    return target


def approved_text(draft_text: str, *, name: str = "draft") -> str:
    """The draft as published: ``draft: false``, checked by the same checker as `post check`.

    Front matter in another valid YAML style (style problems only) is accepted: the
    published file is rendered again, in the blog's style. Raises ``PostFormatError``
    listing up to five errors otherwise.
    """
    problems = [p for p in check_post(draft_text) if not p.style]
    if problems:
        listing = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PostFormatError(
            f"{name} does not pass the post check: {listing}{more}",
            line=problems[0].line,
            hint=f"fix it (`podpost post check {name}` lists every problem), then approve again",
        )
    post = parse_post(draft_text, name=name)
    post = post.model_copy(update={"front": post.front.model_copy(update={"draft": False})})
    text = render_post(post)
    problems = check_post(text)
    if problems:  # rendering a valid post always passes; this guards the guarantee
        raise PostFormatError(f"approved {name} fails the post check: {problems[0].message}")
    return text


@dataclass(frozen=True)
class Approval:
    """Where :func:`approve` published the post, and whether it wrote the file."""

    target: Path
    written: bool  # False when an identical file was already there


def approve(
    draft_path: Path,
    content_dir: Path | None,
    *,
    force: bool = False,
    now: dt.datetime | None = None,
) -> Approval:
    """Publish the draft at ``draft_path`` into ``content_dir`` (see :func:`approved_text`)
    and record the approval beside the draft; ``now`` stamps the record (default: UTC now).

    An identical file already there is not rewritten. Raises
    :class:`~pipeline.errors.UsageError` when ``content_dir`` is None or missing,
    :class:`~pipeline.errors.InputFileError` when the draft cannot be read,
    :class:`~pipeline.errors.PostFormatError` when it fails the post check, and
    :class:`~pipeline.errors.DraftConflictError` when a different file holds the target
    (unless ``force``).
    """
    if content_dir is None:
        raise UsageError(
            "no site content folder to approve into",
            hint="pass --to SITE_CONTENT_DIR or set site_dir in podpost.toml",
        )
    if not Path(content_dir).is_dir():
        raise UsageError(
            f"site content folder {content_dir} does not exist",
            hint="create it or point --to / site_dir at the site's content folder",
        )
    draft_text = read_draft(draft_path)
    text = approved_text(draft_text, name=str(draft_path))
    target = target_path(content_dir, parse_post(text).front)
    written = True
    if target.exists():
        same = target.read_bytes() == text.encode("utf-8")
        if same:
            written = False
        elif not force:
            raise DraftConflictError(
                f"{target} already exists with different content",
                hint="pass --force to replace it, or change the post's title or date",
            )
    if written:
        write_atomic(target, text)
    record_decision(draft_path, "approved", draft_text, target=target, now=now)
    return Approval(target, written)


def reject(draft_path: Path, reason: str, *, now: dt.datetime | None = None) -> Path:
    """Record a rejection of the draft at ``draft_path``, with ``reason``, beside it; returns
    the record's path. Raises :class:`~pipeline.errors.UsageError` for a blank reason and
    :class:`~pipeline.errors.InputFileError` when the draft cannot be read."""
    if not reason.strip():
        raise UsageError("a rejection needs a reason", hint='pass --reason "why"')
    draft_text = read_draft(draft_path)
    return record_decision(draft_path, "rejected", draft_text, reason=reason.strip(), now=now)
