"""Escaping of transcript and model text for the post's Markdown, and its exact inverse.

Text must render as text, never as markup (docs/post-format.md): ``&``, ``<``, ``>``, backticks and
backslashes become HTML character references, so no HTML tag, code span or backslash escape
can form, and neither can a template tag (``{{``, ``{%``, ``{#``) for the site generator;
a paragraph that would open a block construct (heading, list, thematic break, fence, link
definition) gets one leading backslash. ``**bold**`` is the one piece of markup
text may carry, so a paragraph that starts with bold is left alone.

Every function here is pure, and ``unescape_x(escape_x(s)) == s`` for every string.
"""

from __future__ import annotations

import re

_INLINE = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "&#96;", "\\": "&#92;", "{": "&#123;"}
# A "{" is escaped only where it would open a Liquid/Nunjucks tag ({{ {% {#): Eleventy runs
# the blog's template engine over Markdown before rendering it.
_INLINE_RE = re.compile(r"[&<>`\\]|\{(?=[{%#])")
_REFERENCE = {v: k for k, v in _INLINE.items()}
_REFERENCE_RE = re.compile("|".join(re.escape(ref) for ref in _REFERENCE))

# Characters that open a block construct at the start of a line in CommonMark.
_BLOCK_LEAD_RE = re.compile(r"[#\-+_~\[=]")
_BOLD_LEAD_RE = re.compile(r"\*\*[^\s*]")
_ORDERED_RE = re.compile(r"(\d{1,9})([.)])")
_ORDERED_ESCAPED_RE = re.compile(r"(\d{1,9})\\([.)])")
# CommonMark only closes a heading with a '#' run that follows a space (or is all there is).
_TRAILING_HASHES_RE = re.compile(r"(?:(?<=\s)|^)#+$")
_TRAILING_HASHES_ESCAPED_RE = re.compile(r"\\(#+)$")


def escape_inline(text: str) -> str:
    """Escape text that sits inside a line (speaker names, summary labels)."""
    return _INLINE_RE.sub(lambda m: _INLINE[m.group()], text)


def unescape_inline(text: str) -> str:
    """Inverse of ``escape_inline``: the character references it wrote become characters."""
    # One left-to-right pass, so "&amp;lt;" comes back as "&lt;", not "<".
    return _REFERENCE_RE.sub(lambda m: _REFERENCE[m.group()], text)


def escape_paragraph(text: str) -> str:
    """Escape a paragraph that starts a line (or follows a speaker label)."""
    escaped = escape_inline(text)
    if _BLOCK_LEAD_RE.match(escaped) or (
        escaped.startswith("*") and not _BOLD_LEAD_RE.match(escaped)
    ):
        return "\\" + escaped
    ordered = _ORDERED_RE.match(escaped)
    if ordered:
        return f"{ordered.group(1)}\\{escaped[len(ordered.group(1)) :]}"
    return escaped


def unescape_paragraph(text: str) -> str:
    """Inverse of ``escape_paragraph``: drops its leading backslash, then ``unescape_inline``."""
    # Raw backslashes are always written as &#92;, so a literal one here is ours.
    if text.startswith("\\"):
        text = text[1:]
    else:
        ordered = _ORDERED_ESCAPED_RE.match(text)
        if ordered:
            text = ordered.group(1) + text[len(ordered.group(1)) + 1 :]
    return unescape_inline(text)


def escape_heading(text: str) -> str:
    """Escape heading text; a trailing ``#`` run would otherwise be a closing sequence."""
    escaped = escape_inline(text)
    trailing = _TRAILING_HASHES_RE.search(escaped)
    if trailing:
        escaped = escaped[: trailing.start()] + "\\" + trailing.group()
    return escaped


def unescape_heading(text: str) -> str:
    """Inverse of ``escape_heading`` (for heading text after ``### ``)."""
    trailing = _TRAILING_HASHES_ESCAPED_RE.search(text)
    if trailing:
        text = text[: trailing.start()] + trailing.group(1)
    return unescape_inline(text)
