"""Approve a draft into the site's content folder, or reject it; both are recorded.

``approve`` sets ``draft: false``, checks the result with the post checker, and writes it
atomically as ``<date>-<slug of title>.md`` inside the content folder (for Eleventy; the
other site generators' file names and front matter: :mod:`pipeline.review.sites`). The
slug comes from python-slugify, so it is ASCII letters, digits and hyphens whatever the
title (``../``, slashes, only punctuation, CJK); the resolved path is checked to sit in
the folder anyway.
A different version of the same post (same ``source``) at that path is replaced only with
``force``; another episode's post (another ``source``) never is: ``--slug`` names another file.

A draft that was rejected, or that still has error-level review flags (a turn without a
translation, a missing front matter value, ...), is not approved unless ``override``: the
editor says so explicitly, and the flags approved with are returned so the caller can say
what readers will see. A rejected draft reopens when it is edited (its state becomes
``edited``), or with ``override``. ``reject`` refuses a draft whose approval is still
published (the site file is there): a rejection would not take the post down.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from slugify import slugify

from pipeline.db import StateDB
from pipeline.errors import (
    ApprovalRefusedError,
    DraftConflictError,
    PostFormatError,
    UsageError,
)
from pipeline.fsutil import write_atomic
from pipeline.models import FrontMatter
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.flags import DraftReview, Flag, review_text
from pipeline.review.record import load_record, read_draft, record_decision
from pipeline.review.sites import SITES, SiteGenerator, front_source, site_generator

MAX_SLUG_LENGTH = 80
FALLBACK_SLUG = "post"


def slug_for(front: FrontMatter) -> str:
    """``YYYY-MM-DD-title-words``; a title with no usable characters gives ``...-post``."""
    title = title_slug(front)
    date = slugify(front.date)
    return f"{date}-{title}" if date else title


def title_slug(front: FrontMatter) -> str:
    """The title's words as a slug; a title with no usable characters gives ``post``."""
    return slugify(front.title, max_length=MAX_SLUG_LENGTH, word_boundary=True) or FALLBACK_SLUG


def target_path(
    content_dir: Path,
    front: FrontMatter,
    *,
    slug: str | None = None,
    site: SiteGenerator = SITES["eleventy"],
) -> Path:
    """``<content_dir>/<slug>.md`` for the post (``slug`` given, made safe by slugify, else
    :func:`slug_for`, or :func:`title_slug` for a generator without dates in its file
    names; Jekyll's ``slug`` gets the date in front), resolved. Raises
    :class:`~pipeline.errors.UsageError` if it would fall outside ``content_dir`` or
    ``slug`` has no usable character."""
    folder = Path(content_dir).resolve()
    if slug is not None:
        name = slugify(slug.removesuffix(".md"), max_length=MAX_SLUG_LENGTH + 11)
        if not name:
            raise UsageError(
                f"--slug {slug!r} has no letters or digits", hint="use letters, digits and hyphens"
            )
        name = site.required_date(front, name)
    else:
        name = slug_for(front) if site.dated_names else title_slug(front)
    target = (folder / f"{name}.md").resolve()
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


def _source_of(path: Path) -> str | None:
    """The front matter ``source`` of the post at ``path`` (any generator's style); None
    when it cannot be read."""
    try:
        return front_source(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def other_source(target: Path, source: str) -> str | None:
    """The ``source`` of the post at ``target`` when it is another episode's: both sources
    known and different. None when it is this episode's, or when nothing tells (a file that
    does not parse, a source missing on either side): then the old ``--force`` rule holds."""
    theirs = _source_of(target)
    if theirs and source and theirs != source:
        return theirs
    return None


def free_slug(target: Path, source: str) -> str:
    """The first ``<stem>-N`` (N = 2, 3, ...) beside ``target`` that is free, or that
    already holds this episode's post (its ``source``)."""
    n = 2
    while True:
        candidate = target.with_name(f"{target.stem}-{n}.md")
        if not candidate.exists() or _source_of(candidate) == source:
            return candidate.stem
        n += 1


def refuse_other_episode(
    target: Path, theirs: str, draft_path: Path, source: str
) -> DraftConflictError:
    """The one-line refusal to publish over another episode's post (same date and title)."""
    return DraftConflictError(
        f"{target} is another episode's post (source: {theirs}), with the same date and "
        "title; --force does not replace another episode's post",
        hint=(
            f"publish this one under another name: podpost approve {draft_path} "
            f"--slug {free_slug(target, source)} (or change its title); if it is the same talk, "
            "reject one of the drafts"
        ),
    )


@dataclass(frozen=True)
class Approval:
    """Where :func:`approve` published the post, and whether it wrote the file."""

    target: Path
    written: bool  # False when an identical file was already there
    flags: tuple[Flag, ...] = ()  # error flags approved with (only with ``override``)


def blocking_flags(review: DraftReview) -> list[Flag]:
    """The error-level flags that keep ``review``'s draft from being approved.

    Format errors are left out: :func:`approved_text` refuses those on its own, and no
    override publishes a file that breaks the post format.
    """
    return [f for f in review.flags if f.severity == "error" and f.kind != "format"]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def refuse_rejected(reason: str, *, name: str) -> ApprovalRefusedError:
    """The one-line refusal for approving a rejected draft (``reason``: the rejection's)."""
    why = f" ({reason})" if reason else ""
    return ApprovalRefusedError(
        f"{name} was rejected{why}",
        hint="edit the draft to reopen it, or pass --override to approve it as it is",
    )


def refuse_flagged(flags: list[Flag], path: Path, *, name: str) -> ApprovalRefusedError:
    """The one-line refusal for approving the draft at ``path`` with error ``flags``."""
    kinds = Counter(flag.kind for flag in flags)  # flags come most urgent first
    listing = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    them = "them" if len(flags) > 1 else "it"
    return ApprovalRefusedError(
        f"{name} has {_plural(len(flags), 'error flag')} ({listing})",
        hint=(
            f"fix {them} (`podpost review {path}` lists every flag), "
            f"or pass --override to publish with {them}"
        ),
    )


def approve(
    draft_path: Path,
    content_dir: Path | None,
    *,
    db: StateDB,
    force: bool = False,
    override: bool = False,
    slug: str | None = None,
    episodes_dir: Path | None = None,
    now: dt.datetime | None = None,
    site: str = "eleventy",
) -> Approval:
    """Publish the draft at ``draft_path`` into ``content_dir`` (see :func:`approved_text`)
    and record the approval in the draft's record in ``db`` (a conditional write on the
    record as this function read it: :class:`~pipeline.errors.DraftConflictError` when
    another editor decided meanwhile); ``now`` stamps the record (default: UTC now).
    ``slug`` names the file (default: date and title); ``episodes_dir`` helps find the
    episode's turns for the review flags. ``site`` names the site generator whose file
    naming and front matter the published file follows (:mod:`pipeline.review.sites`);
    ``content_dir`` is its posts folder or, for Jekyll, Hugo and Astro, the site's root.

    An identical file already there is not rewritten. Raises
    :class:`~pipeline.errors.UsageError` when ``content_dir`` is None or missing,
    :class:`~pipeline.errors.InputFileError` when the draft cannot be read,
    :class:`~pipeline.errors.ApprovalRefusedError` when it was rejected or has error flags
    (unless ``override``), :class:`~pipeline.errors.PostFormatError` when it fails the post
    check, and :class:`~pipeline.errors.DraftConflictError` when another episode's post
    holds the target (its ``source`` differs; ``force`` does not help), or a different
    version of this one does (unless ``force``).
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
    generator = site_generator(site)
    draft_text = read_draft(draft_path)
    record = load_record(db, draft_path)
    if record is not None and record.stage == "turns":  # not even with --override
        raise ApprovalRefusedError(
            f"{Path(draft_path).name} holds the episode's speaker turns, not yet translated",
            hint=f"check the speakers, then `podpost resume {record.episode_id or 'EPISODE'}` "
            "translates them into the draft to approve",
        )
    review = review_text(
        draft_text, path=Path(draft_path), record=record, episodes_dir=episodes_dir
    )
    name = Path(draft_path).name
    if review.state == "rejected" and not override:
        raise refuse_rejected(record.decisions[-1].reason if record else "", name=name)
    text = approved_text(draft_text, name=str(draft_path))
    flags = blocking_flags(review)
    if flags and not override:
        raise refuse_flagged(flags, Path(draft_path), name=name)
    post = parse_post(text)
    front = post.front
    folder = generator.posts_folder(Path(content_dir))
    target = target_path(folder, front, slug=slug, site=generator)
    text = generator.render(post)
    written = True
    if target.exists():
        same = target.read_bytes() == text.encode("utf-8")
        if same:
            written = False
        else:
            other = other_source(target, front.source)
            if other is not None:
                raise refuse_other_episode(target, other, Path(draft_path), front.source)
            if not force:
                raise DraftConflictError(
                    f"{target} already exists with different content",
                    hint="pass --force to replace it, or change the post's title or date",
                )
    if written:
        write_atomic(target, text)
    record_decision(db, draft_path, "approved", draft_text, target=target, now=now, record=record)
    return Approval(target, written, tuple(flags))


def published_at(db: StateDB, draft_path: Path) -> Path | None:
    """The site file the draft's last approval wrote, while that file is still there."""
    record = load_record(db, draft_path)
    approvals = [d for d in record.decisions if d.state == "approved"] if record else []
    if approvals and approvals[-1].target and Path(approvals[-1].target).is_file():
        return Path(approvals[-1].target)
    return None


def reject(draft_path: Path, reason: str, *, db: StateDB, now: dt.datetime | None = None) -> int:
    """Record a rejection of the draft at ``draft_path``, with ``reason``, in its record in
    ``db``; returns the record's new generation. Raises
    :class:`~pipeline.errors.UsageError` for a blank reason,
    :class:`~pipeline.errors.InputFileError` when the draft cannot be read, and
    :class:`~pipeline.errors.DraftConflictError` while an approval of it is published (the
    site file it wrote is still there): a rejection would not take the post down."""
    if not reason.strip():
        raise UsageError("a rejection needs a reason", hint='pass --reason "why"')
    draft_text = read_draft(draft_path)
    record = load_record(db, draft_path)
    site_file = published_at(db, draft_path)
    if site_file is not None:
        raise DraftConflictError(
            f"{Path(draft_path).name} is published as {site_file}; rejecting it would leave "
            "the post on the site",
            hint=f"to unpublish it, delete {site_file}, then reject again",
        )
    return record_decision(
        db, draft_path, "rejected", draft_text, reason=reason.strip(), now=now, record=record
    )
