"""The preview page, rendered on the server: the blog view beside the review view.

Jinja2 with autoescaping renders ``preview_assets/page.html.j2``. The blog view is the
*re-rendered* post (so every transcript or model text is escaped by the post renderer)
through markdown-it-py's CommonMark preset with raw HTML on, as Eleventy does.

Each turn of the review view carries ``data-turn`` (its 1-based number, as the page shows
it), and where the episode's turns give its times, ``data-start`` / ``data-end`` in
seconds; the page's script plays the episode's audio from there. The controls to fix a
turn (speaker, split, merge, ask again) list the cut points that
:mod:`pipeline.review.edits` accepts, so the page never has to guess a valid position.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from pipeline.models import Post
from pipeline.post.parse import LIST_KEYS
from pipeline.post.render import render_body
from pipeline.review.edits import original_cuts, translation_cuts
from pipeline.review.flags import DraftReview, flags_by_turn, format_time, source_link
from pipeline.review.quality import LOW_QUALITY
from pipeline.review.record import DraftRecord, sha256_text

ASSETS = Path(__file__).parent / "preview_assets"
_BOLD_RE = re.compile(r"\*\*(.+?)\*\*")
PEEK = 24  # characters shown on each side of a cut point


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True})  # Eleventy's markdown-it has html on


def blog_html(post: Post) -> Markup:
    """The body as the blog shows it. Text is escaped by the post renderer before this."""
    return Markup(_markdown().render(render_body(post)))


def bold_html(text: str) -> Markup:
    """Plain text with ``**bold**`` shown bold, everything else escaped."""
    return Markup(_BOLD_RE.sub(lambda m: f"<strong>{m.group(1)}</strong>", str(escape(text))))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ASSETS)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bold"] = bold_html
    env.filters["clock"] = format_time
    env.globals["LOW_QUALITY"] = LOW_QUALITY
    return env


def _front_fields(post: Post) -> list[dict[str, Any]]:
    fields = []
    for key, value in post.front.model_dump().items():
        kind = "list" if key in LIST_KEYS else "bool" if isinstance(value, bool) else "text"
        shown = "\n".join(value) if kind == "list" else value
        fields.append({"key": key, "kind": kind, "value": shown})
    return fields


def _peek(before: str, after: str) -> str:
    """How a cut point reads in a menu: the end of one part | the start of the next."""
    left = before[-4 * PEEK :].replace("**", "")[-PEEK:]
    right = after[: 4 * PEEK].replace("**", "").lstrip()[:PEEK]
    return f"…{left} | {right}…"


def _around(text: str, at: int) -> tuple[str, str]:
    """The text just before and just after ``at`` (enough for :func:`_peek`; slicing only
    that much keeps a page-long turn's menu linear)."""
    return text[max(0, at - 4 * PEEK) : at], text[at : at + 4 * PEEK]


def cut_options(original: str, paragraphs: list[str]) -> dict[str, list[dict[str, str]]]:
    """The split menus of one turn: values the edit API accepts, and how each reads."""
    originals = [{"value": str(at), "label": _peek(*_around(original, at))}
                 for at in original_cuts(original)]  # fmt: skip
    translations = [
        {"value": f"{p},{offset}",
         "label": _peek(*_around(paragraphs[p], offset)) if offset
         else _peek(paragraphs[p - 1][-4 * PEEK :], paragraphs[p][: 4 * PEEK])}
        for p, offset in translation_cuts(paragraphs)
    ]  # fmt: skip
    return {"original": originals, "translation": translations}


def changes(text: str, record: DraftRecord | None) -> dict[str, Any]:
    """What changed since the pipeline generated the draft: a line diff when the record
    kept the generated text, else only whether it changed."""
    if record is None or not record.generated_sha256:
        return {"known": False, "changed": False, "lines": []}
    changed = sha256_text(text) != record.generated_sha256
    if record.generated_text is None or not changed:
        return {"known": True, "changed": changed, "lines": [], "diffable": not changed}
    diff = difflib.unified_diff(
        record.generated_text.splitlines(), text.splitlines(), "generated", "now", n=0,
        lineterm="",
    )  # fmt: skip
    lines = [
        {"kind": {"+": "add", "-": "del", "@": "at"}.get(line[:1], ""), "text": line}
        for line in list(diff)[2:]
    ]
    counted = sum(1 for line in lines if line["kind"] in ("add", "del"))
    return {"known": True, "changed": True, "lines": lines, "diffable": True, "count": counted}


def render_page(
    review: DraftReview,
    *,
    saved: bool = False,
    record: DraftRecord | None = None,
    audio: bool = False,
    can_reask: bool = False,
) -> str:
    """The whole page for ``review``; ``audio``: the episode's audio is served at /audio."""
    template = _environment().get_template("page.html.j2")
    post = review.post
    common = {"review": review, "saved": saved, "name": review.path.name,
              "sha256": sha256_text(review.text)}  # fmt: skip
    if post is None:
        return template.render(post=None, **common)
    by_turn = flags_by_turn(review.flags)
    sections, number = [], 0
    for section in post.sections:
        turns = []
        for turn in section.turns:
            number += 1
            span = review.spans[number - 1] if review.spans else None
            start = span[0] if span else None
            flags = by_turn.get(number, [])
            turns.append(
                {
                    "number": number,
                    "turn": turn,
                    "start": start,
                    "end": span[1] if span else None,
                    "link": source_link(post.front.source, start),
                    "flags": flags,
                    "worst": flags[0].severity if flags else "",
                    "quality": review.quality[number - 1] if review.quality else None,
                    "translation": "\n".join(turn.translation),
                    "cuts": cut_options(turn.original, turn.translation),
                }
            )
        sections.append({"heading": section.heading, "turns": turns})
    speakers = list(dict.fromkeys(turn.speaker for turn in post.turns))
    known = [s.name for s in review.turns.speakers] if review.turns else []
    return template.render(
        post=post,
        blog=blog_html(post),
        sections=sections,
        speakers=speakers,
        speaker_choices=list(dict.fromkeys([*speakers, *known])),
        front_fields=_front_fields(post),
        audio=audio,
        can_reask=can_reask,
        changes=changes(review.text, record),
        **common,
    )
