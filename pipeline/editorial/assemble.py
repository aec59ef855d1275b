"""Validated translations + outline -> the Post. Pure; code, not the model, writes the bold.

In each turn, the first occurrence of each key term is bolded in the original (the exact
substring the model named, or a glossary term found by code) and in the translation. A
glossary term's first mention in the whole post reads ``**译名**（Term）`` in the
translation (docs/post-format.md), later ones ``**译名**``; where the translation is the term itself
(names) it is just ``**Term**``. Removing every ``**`` from an original gives back the
transcript text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.editorial.units import Unit, clean_text
from pipeline.editorial.validate import UnitResult, in_text
from pipeline.editorial.wire import GlossaryEntry, OutlineSection
from pipeline.models import PostTurn, Section, Turn

_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class Failure:
    """A turn left without a translation: its id, speaker, the last problem seen, and its
    number in the post."""

    turn_id: int
    speaker: str
    reason: str
    number: int = 0  # 1-based place of the turn in the post, as review numbers it


def _occurrences(text: str, term: str, words: bool) -> list[int]:
    found = [m.start() for m in re.finditer(re.escape(term), text)]
    if not words:
        return found
    # whole words first, so "AI" is not bolded inside "said"; any occurrence after
    whole = [
        i
        for i in found
        if not _WORD_CHAR.match(text[i - 1 : i] or " ")
        and not _WORD_CHAR.match(text[i + len(term) : i + len(term) + 1] or " ")
    ]
    return whole + [i for i in found if i not in whole]  # fmt: skip


def bold_spans(text: str, terms: list[str], *, words: bool = False) -> str:
    """``text`` with the first occurrence of each term wrapped in ``**``; overlapping or
    adjacent spans are skipped (longer terms win), so markers always pair up."""
    spans: list[tuple[int, int]] = []
    for term in sorted({t for t in terms if t and "*" not in t}, key=lambda t: (-len(t), t)):
        for start in _occurrences(text, term, words):
            end = start + len(term)
            if all(end < a or start > b for a, b in spans):
                spans.append((start, end))
                break
    out, last = [], 0
    for start, end in sorted(spans):
        out.append(text[last:start] + "**" + text[start:end] + "**")
        last = end
    return "".join(out) + text[last:]


def _translation_terms(
    original: str, result_terms: list[tuple[str, str]], glossary: list[GlossaryEntry]
) -> list[tuple[str, str, str | None]]:
    """(source, target, glossary term or None) for the turn, glossary entries first."""
    found: list[tuple[str, str, str | None]] = []
    for entry in glossary:
        match = in_text(entry.term, original)
        if match:
            found.append((match.group(), entry.translation, entry.term))
    known = {f[0].lower() for f in found}
    for source, target in result_terms:
        if source.lower() not in known:
            found.append((source, target, None))
            known.add(source.lower())
    return found


def _render_translation(
    text: str, terms: list[tuple[str, str, str | None]], mentioned: set[str]
) -> str:
    """Bold each term's first occurrence; a term's first mention in the post gets
    ``（Term）`` after it (the glossary's spelling, else the original's) unless the
    translation already shows the term."""
    bolded = bold_spans(text, [target for _, target, _ in terms])
    for source, target, glossary_term in terms:
        term = glossary_term or source
        if f"**{target}**" not in bolded or term.lower() in mentioned:
            continue
        mentioned.add(term.lower())
        if term.lower() not in target.lower():
            bolded = bolded.replace(f"**{target}**", f"**{target}**（{term}）", 1)
    return bolded


def translation_paragraphs(
    original: str,
    result: UnitResult,
    glossary: list[GlossaryEntry],
    mentioned: set[str],
) -> tuple[list[str], list[str]]:
    """One unit's validated translation as post paragraphs with its key terms bolded, and
    the terms to bold in the original. ``mentioned`` (lowercased terms whose first mention
    in the post already has its ``（Term）``) is updated."""
    terms = _translation_terms(original, result.terms, glossary)
    rendered = _render_translation(result.translation, terms, mentioned)
    return [p for p in rendered.split("\n") if p], [source for source, _, _ in terms]


def assemble_turns(
    turns: list[Turn],
    units: list[Unit],
    results: dict[str, UnitResult],
    failed: dict[str, str],
    glossary: list[GlossaryEntry],
    source_language_name: str,
) -> tuple[list[tuple[int, PostTurn]], list[Failure]]:
    """The post's turns, as ``(turn id, PostTurn)`` in transcript order, and the failures.

    Each turn's units' translations become its paragraphs (one per unit); glossary terms
    are bolded, and glossed with the original at their first mention in the post; a turn
    with a failed unit gets no translation and a :class:`Failure`.
    """
    by_turn: dict[int, list[Unit]] = {}
    for unit in units:
        by_turn.setdefault(unit.turn_id, []).append(unit)
    mentioned: set[str] = set()
    post_turns: list[tuple[int, PostTurn]] = []
    failures: list[Failure] = []
    for turn in turns:
        pieces = by_turn.get(turn.id)
        if not pieces:
            continue
        original = clean_text(turn.text)
        speaker = clean_text(turn.speaker).replace("*", "") or "Speaker"
        reasons = [failed.get(u.id) or "no translation" for u in pieces if u.id not in results]
        source_terms: list[str] = []
        paragraphs: list[str] = []
        if reasons:
            failures.append(Failure(turn.id, speaker, "; ".join(reasons), len(post_turns) + 1))
        else:
            for unit in pieces:
                done, sources = translation_paragraphs(
                    unit.text, results[unit.id], glossary, mentioned
                )
                paragraphs += done
                source_terms += sources
        if reasons:  # the original still gets its glossary terms bolded
            source_terms = [m.group() for g in glossary if (m := in_text(g.term, original))]
        post_turns.append((
            turn.id,
            PostTurn(
                speaker=speaker,
                translation=paragraphs,
                original=bold_spans(original, source_terms, words=True),
                source_language=source_language_name,
            ),
        ))  # fmt: skip
    return post_turns, failures


def sections_from_outline(
    post_turns: list[tuple[int, PostTurn]], outline: list[OutlineSection]
) -> list[Section]:
    """Turns grouped under the outline's headings; turns before the first heading form a
    heading-less first section (docs/post-format.md allows only the first to lack one)."""
    starts = {s.start: s.heading for s in outline}
    sections: list[Section] = []
    current: tuple[str | None, list[PostTurn]] | None = None
    for turn_id, turn in post_turns:
        if turn_id in starts or current is None:
            if current is not None:
                sections.append(Section(heading=current[0], turns=current[1]))
            current = (starts.get(turn_id), [])
        current[1].append(turn)
    if current is not None:
        sections.append(Section(heading=current[0], turns=current[1]))
    return sections
