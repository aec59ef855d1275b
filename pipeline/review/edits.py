"""Structural edits of a post in review: who said it, and where a turn starts and ends. Pure.

Each operation takes the post, the (start, end) seconds of each of its turns (``None`` where
unknown) and a 1-based turn number, and returns an :class:`Edited`: the new post and the
new spans, one per turn. Originals are never rewritten, only cut or joined at a space, so
the originals read in order stay the transcript text; speaker labels live in one field,
which the renderer writes in both the translation and the original.

* :func:`set_speaker`: one turn gets another (known or new) speaker.
* :func:`split_turn`: a turn is cut at a sentence boundary of its original
  (:func:`original_cuts`); the second part gets its own speaker. The translation is cut where
  the editor says (:func:`translation_cuts`) or left empty, marked for re-translation.
* :func:`merge_into_previous`: a turn joins the one before it (the earlier speaker stays).
* :func:`set_translation`: one turn's translation paragraphs replaced (an accepted re-ask).

Bad positions raise :class:`EditError` with the reason; names and texts are validated by
the :class:`Post` model, whose ``ValidationError`` the caller turns into a reason.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pipeline.errors import EditError
from pipeline.models import Post, Turn

Span = tuple[float, float]  # (start, end) seconds in the episode's audio

# A sentence ends with . ! ? or …, perhaps closed by quotes, brackets or a bold marker.
_ORIGINAL_END_RE = re.compile(r"[.!?…][\"'”’)\]]*(?:\*\*)?(\s+)(?=\S)")
_TRANSLATION_END_RE = re.compile(r"[。！？!?.…][”’」』）)\"']*(?:\*\*)?\s*(?=\S)")


@dataclass(frozen=True)
class Edited:
    """The result of one edit: the new post and the (start, end) of each of its turns."""

    post: Post
    spans: list[Span | None]  # one per turn of ``post``


def plain(text: str) -> str:
    """Text without bold markers, single-spaced: how originals compare with the transcript."""
    return " ".join(text.replace("**", "").split())


def _outside_bold(text: str, offsets: Iterable[int]) -> Iterator[int]:
    """The ``offsets`` (ascending) before which ``text`` has balanced bold markers; one
    pass over the text, so a page-long turn stays cheap."""
    markers, last = 0, 0
    for offset in offsets:
        markers += text.count("**", last, offset)
        last = offset
        if markers % 2 == 0:
            yield offset


def original_cuts(original: str) -> list[int]:
    """Character offsets where ``original`` may be split: the whitespace after each sentence
    end, outside bold, with text on both sides. The second part starts after the spaces."""
    ends = (m.start(1) for m in _ORIGINAL_END_RE.finditer(original) if m.start(1) > 0)
    return list(_outside_bold(original, ends))


def translation_cuts(paragraphs: Sequence[str]) -> list[tuple[int, int]]:
    """(paragraph, offset) pairs where a translation may be split: between paragraphs
    (offset 0) and after a sentence end inside one, outside bold."""
    cuts: list[tuple[int, int]] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            cuts.append((index, 0))
        ends = (m.end() for m in _TRANSLATION_END_RE.finditer(paragraph))
        inside = _outside_bold(paragraph, (end for end in ends if end < len(paragraph)))
        cuts += [(index, end) for end in inside]
    return cuts


def _flat(post: Post) -> tuple[dict[str, Any], list[tuple[int, int]]]:
    """The post as data, and (section, position) of each turn in order."""
    data = post.model_dump()
    where = [
        (s, t) for s, section in enumerate(data["sections"]) for t in range(len(section["turns"]))
    ]
    return data, where


def _where(loc: tuple[Any, ...], post: dict[str, Any]) -> str:
    if loc[:1] == ("front",) and len(loc) > 1:
        return f"front matter '{loc[1]}'"
    if loc[:1] == ("sections",) and len(loc) > 1 and isinstance(loc[1], int):
        section = loc[1]
        if len(loc) > 3 and loc[2] == "turns" and isinstance(loc[3], int):
            number = sum(len(s["turns"]) for s in post["sections"][:section]) + loc[3] + 1
            field = loc[4] if len(loc) > 4 else "turn"
            what = "speaker name" if field == "speaker" else field
            return f"turn {number} {what}"
        return f"section {section + 1} heading"
    return ".".join(str(part) for part in loc) or "post"


def validated(data: dict[str, Any]) -> Post:
    """``data`` as a :class:`Post`, or :class:`EditError` naming the first field at fault
    the way an editor counts (turn 3 speaker name, section 2 heading, front matter 'date')."""
    try:
        return Post.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] in ("string_too_short", "too_short"):
            message = "must not be empty"
        raise EditError(f"{_where(tuple(first['loc']), data)}: {message}") from e


def _check(post: Post, spans: Sequence[Span | None], number: int) -> None:
    if len(spans) != len(post.turns):
        raise EditError(f"{len(spans)} turn times for {len(post.turns)} turns")
    if not 1 <= number <= len(post.turns):
        raise EditError(f"there is no turn {number} (the post has {len(post.turns)})")


def set_speaker(post: Post, spans: Sequence[Span | None], number: int, name: str) -> Edited:
    """Turn ``number`` said by ``name`` (stripped); every other turn as it was."""
    _check(post, spans, number)
    data, where = _flat(post)
    s, t = where[number - 1]
    data["sections"][s]["turns"][t]["speaker"] = name.strip()
    return Edited(validated(data), list(spans))


def set_translation(
    post: Post, spans: Sequence[Span | None], number: int, paragraphs: Sequence[str]
) -> Edited:
    """Turn ``number`` with these translation paragraphs (blank ones dropped)."""
    _check(post, spans, number)
    data, where = _flat(post)
    s, t = where[number - 1]
    data["sections"][s]["turns"][t]["translation"] = [p.strip() for p in paragraphs if p.strip()]
    return Edited(validated(data), list(spans))


def split_time(span: Span, original: str, at: int, boundaries: Sequence[float] = ()) -> float:
    """Where in ``span`` the cut at character ``at`` of ``original`` falls: in proportion to
    the characters before it, moved to the nearest word or segment end (``boundaries``,
    seconds, from the transcript) strictly inside the span when there is one."""
    start, end = span
    whole = len(plain(original)) or 1
    guess = start + (end - start) * len(plain(original[:at])) / whole
    inside = sorted(b for b in boundaries if start < b < end)
    if not inside:
        return guess
    i = bisect.bisect_left(inside, guess)
    near = [inside[j] for j in (i - 1, i) if 0 <= j < len(inside)]
    return min(near, key=lambda b: abs(b - guess))


def split_turn(
    post: Post,
    spans: Sequence[Span | None],
    number: int,
    at: int,
    speaker: str,
    translation_at: tuple[int, int] | None = None,
    boundaries: Sequence[float] = (),
) -> Edited:
    """Turn ``number`` cut into two at ``at`` (one of :func:`original_cuts`); the second
    part is said by ``speaker``. ``translation_at`` (one of :func:`translation_cuts`) cuts
    the translation too; ``None`` leaves both translations empty, to be translated again."""
    _check(post, spans, number)
    data, where = _flat(post)
    s, t = where[number - 1]
    turn = data["sections"][s]["turns"][t]
    original = turn["original"]
    if at not in original_cuts(original):
        raise EditError(
            f"turn {number} cannot be split there: pick the end of a sentence",
            [f"possible cuts: {', '.join(map(str, original_cuts(original))) or 'none'}"],
        )
    first, second = dict(turn), dict(turn)
    first["original"], second["original"] = original[:at], original[at:].lstrip()
    second["speaker"] = speaker.strip()
    paragraphs: list[str] = turn["translation"]
    if translation_at is None or not paragraphs:
        first["translation"], second["translation"] = [], []
    else:
        if tuple(translation_at) not in translation_cuts(paragraphs):
            raise EditError(f"turn {number}'s translation cannot be split there")
        p, offset = translation_at
        head = [*paragraphs[:p], paragraphs[p][:offset]]
        tail = [paragraphs[p][offset:], *paragraphs[p + 1 :]]
        first["translation"] = [x.strip() for x in head if x.strip()]
        second["translation"] = [x.strip() for x in tail if x.strip()]
    data["sections"][s]["turns"][t : t + 1] = [first, second]
    span = spans[number - 1]
    halves: list[Span | None] = [None, None]
    if span is not None:
        cut = split_time(span, original, at, boundaries)
        halves = [(span[0], cut), (cut, span[1])]
    new_spans = [*spans[: number - 1], *halves, *spans[number:]]
    return Edited(validated(data), new_spans)


def merge_into_previous(post: Post, spans: Sequence[Span | None], number: int) -> Edited:
    """Turn ``number`` joined to the turn before it: originals and translations follow one
    another, the earlier turn's speaker stays, and the span covers both. A section left
    empty (the turn was its only one) goes with its heading. When only one of the two was
    translated the merged turn is left untranslated, to be translated again whole."""
    _check(post, spans, number)
    if number == 1:
        raise EditError("turn 1 has no turn before it to merge into")
    data, where = _flat(post)
    (ps, pt), (s, t) = where[number - 2], where[number - 1]
    before = data["sections"][ps]["turns"][pt]
    turn = data["sections"][s]["turns"].pop(t)
    before["original"] = f"{before['original']} {turn['original']}"
    both = bool(before["translation"]) and bool(turn["translation"])
    before["translation"] = [*before["translation"], *turn["translation"]] if both else []
    if not data["sections"][s]["turns"]:
        del data["sections"][s]
    a, b = spans[number - 2], spans[number - 1]
    merged: Span | None = (a[0], b[1]) if a and b else a or b
    new_spans = [*spans[: number - 2], merged, *spans[number:]]
    return Edited(validated(data), new_spans)


def review_turns(post: Post, spans: Sequence[Span | None]) -> list[Turn]:
    """The post's turns as transcript turns (plain text, times), for the draft record; turns
    without a known span are left out (they had none before either)."""
    return [
        Turn(id=i, speaker=turn.speaker, start=span[0], end=span[1], text=plain(turn.original))
        for i, (turn, span) in enumerate(zip(post.turns, spans, strict=True))
        if span is not None
    ]
