"""Turns -> translation units -> chunks sized by tokens. Pure functions.

A unit is a whole turn (id ``"12"``) or, for a very long turn, one piece of it cut at
sentence boundaries (ids ``"12.1"``, ``"12.2"``...); the pieces' translations become the
turn's paragraphs again. Joining a turn's pieces with one space gives back its text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pipeline.langtags import language_name as language_name  # names live in langtags
from pipeline.llm import estimate_tokens
from pipeline.models import Turn

_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+")


def clean_text(text: str) -> str:
    """One line, single spaces: what the post shows as the original paragraph."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Unit:
    """What one line of a translation request holds: a turn, or a piece of a long one
    (``id`` ``"7"`` or ``"7.0"``, ``"7.1"``...), with its speaker and text."""

    id: str
    turn_id: int
    speaker: str
    text: str

    @property
    def tokens(self) -> int:
        """Estimated tokens of the line as sent (text plus its id and speaker)."""
        return estimate_tokens(self.text) + 6  # the line's id and speaker


def _pieces(text: str, max_tokens: int) -> list[str]:
    if estimate_tokens(text) <= max_tokens:
        return [text]
    sentences: list[str] = []
    for sentence in _SENTENCE_END_RE.split(text):
        words = sentence.split(" ")
        while estimate_tokens(" ".join(words)) > max_tokens and len(words) > 1:
            # a "sentence" longer than a piece (no punctuation): cut it by words
            cut = max(1, len(words) * max_tokens // max(1, estimate_tokens(" ".join(words))))
            sentences.append(" ".join(words[:cut]))
            words = words[cut:]
        sentences.append(" ".join(words))
    pieces: list[str] = []
    for sentence in sentences:
        if pieces and estimate_tokens(pieces[-1] + " " + sentence) <= max_tokens:
            pieces[-1] += " " + sentence
        else:
            pieces.append(sentence)
    return pieces


def make_units(turns: list[Turn], max_unit_tokens: int) -> list[Unit]:
    """Units in order; turns without text are skipped (they have nothing to show)."""
    units: list[Unit] = []
    for turn in turns:
        text = clean_text(turn.text)
        if not text:
            continue
        pieces = _pieces(text, max_unit_tokens)
        if len(pieces) == 1:
            units.append(Unit(str(turn.id), turn.id, turn.speaker, text))
        else:
            units.extend(
                Unit(f"{turn.id}.{n}", turn.id, turn.speaker, piece)
                for n, piece in enumerate(pieces, 1)
            )
    return units


def plan_chunks(
    units: list[Unit], max_tokens: int, *, min_tokens: int = 0, parallel: int = 1
) -> list[list[Unit]]:
    """Consecutive units in chunks of about equal size, none above ``max_tokens`` (unless
    one unit alone is). Equal sizes keep concurrent requests finishing together, and the
    count is rounded up to a multiple of ``parallel`` while chunks stay >= ``min_tokens``,
    so no round of concurrent requests runs half empty."""
    total = sum(u.tokens for u in units)
    if not units:
        return []
    count = max(1, math.ceil(total / max_tokens))
    rounded = math.ceil(count / max(1, parallel)) * max(1, parallel)
    if total / rounded >= min_tokens:
        count = rounded
    target = total / count
    chunks: list[list[Unit]] = []
    index, size, before = -1, 0, 0
    for unit in units:
        # the chunk a unit belongs to is where its middle falls on the token line
        wanted = min(count - 1, int((before + unit.tokens / 2) // target))
        if wanted > index or size + unit.tokens > max_tokens:
            chunks.append([])
            index, size = max(index, wanted), 0
        chunks[-1].append(unit)
        size += unit.tokens
        before += unit.tokens
    return chunks


def context_lines(units: list[Unit], before: int, count: int, max_chars: int = 160) -> list[Unit]:
    """Up to ``count`` units preceding index ``before``, each clipped to its last
    ``max_chars`` characters: the end of what was said is what the next line answers."""
    chosen = units[max(0, before - count) : before]
    return [
        Unit(u.id, u.turn_id, u.speaker, u.text if len(u.text) <= max_chars
             else "…" + u.text[-max_chars:].split(" ", 1)[-1])
        for u in chosen
    ]  # fmt: skip
