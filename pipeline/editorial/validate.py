"""Checks on every translated unit. Pure.

A problem is *fatal* (the answer cannot be used: missing or empty, not in the target
language, belongs to another line, unbalanced bold) or *minor* (usable, but worth one
re-ask: numbers dropped, an odd length, a glossary term translated another way, a term
that is not really in the text). Minor problems left after the re-ask are accepted and
reported as review flags; a term that is not where the model said is simply not bolded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.editorial.wire import GlossaryEntry, TranslateOut, TurnOut

if TYPE_CHECKING:  # units loads the LLM client (token estimates); review needs only checks
    from pipeline.editorial.units import Unit

_WORD_RE = re.compile(r"\w+")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_SCRIPTS = {
    "zh": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]"),
    "ja": re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]"),
    "ko": re.compile(r"[\uac00-\ud7af]"),
    "ru": re.compile(r"[\u0400-\u04ff]"),
    "uk": re.compile(r"[\u0400-\u04ff]"),
    "ar": re.compile(r"[\u0600-\u06ff]"),
    "he": re.compile(r"[\u0590-\u05ff]"),
    "th": re.compile(r"[\u0e00-\u0e7f]"),
    "hi": re.compile(r"[\u0900-\u097f]"),
}  # fmt: skip
# translation length / original length, in characters; CJK scripts are far denser.
_RATIO = {"zh": (0.08, 1.6), "ja": (0.1, 1.8), "ko": (0.1, 1.8)}
_RATIO_DEFAULT = (0.3, 3.0)
_RATIO_MIN_CHARS = 40


@dataclass
class UnitResult:
    """A usable translation of one unit: plain text (no markup) and its key terms."""

    id: str
    translation: str
    terms: list[tuple[str, str]] = field(default_factory=list)  # (in original, in translation)
    flags: list[str] = field(default_factory=list)  # minor problems accepted

    def to_json(self) -> dict:
        """The cached form; ``terms`` as two-item lists."""
        return {"id": self.id, "translation": self.translation,
                "terms": [list(t) for t in self.terms], "flags": self.flags}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> UnitResult:
        """A result read back from :meth:`to_json`'s form."""
        return cls(data["id"], data["translation"], [tuple(t) for t in data["terms"]],
                   list(data.get("flags", [])))  # fmt: skip


@dataclass
class Verdict:
    """The check of one answer: a usable ``result`` (None when a ``fatal`` problem makes
    it unusable), and the problems found; ``minor`` ones are accepted and flagged."""

    result: UnitResult | None  # None when a fatal problem makes the answer unusable
    fatal: list[str] = field(default_factory=list)
    minor: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Fatal problems, then minor ones."""
        return self.fatal + self.minor


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER_RE.findall(text)}


def numbers_in(text: str) -> set[str]:
    """The numbers written in digits in ``text``, thousands separators dropped."""
    return _numbers(text)


def script_of(target: str) -> re.Pattern[str] | None:
    """The script a ``target`` language is written in, when it is not Latin (else None)."""
    return _SCRIPTS.get(target.split("-")[0].lower()) if target else None


def _starts_like(said: list[str], first: list[str]) -> bool:
    """The words the model says begin the line do, give or take a skipped filler or two."""
    return any(first[i : i + len(said)] == said for i in range(0, 4))


def missing_numbers(original: str, translation: str) -> list[str]:
    """The numbers written in digits in ``original`` that ``translation`` lacks, sorted.

    A substring test, not equality ("1 million" may fairly become "100万"); thousands
    separators are ignored, and a whole number of ten thousand or more also counts as kept
    when written with the Chinese/Japanese myriads (10000 as 1万, 350000000 as 3.5亿)."""
    flat = translation.replace(",", "")
    missing = []
    for number in _numbers(original):
        forms = [number]
        if number.isdigit() and int(number) >= 10_000:
            value = int(number)
            forms += [f"{value / unit:g}{sign}" for unit, sign in ((10**4, "万"), (10**8, "亿"))]
        if not any(form in flat for form in forms):
            missing.append(number)
    return sorted(missing)


def longest_plausible(original: str, target: str) -> int:
    """The most characters a translation of ``original`` into ``target`` may have and
    still be of a plausible length (:func:`length_ratio_off`): the band's top ratio for
    ``target`` times the original's length, a short original counted as 40 characters."""
    _low, high = _RATIO.get(target.split("-")[0].lower(), _RATIO_DEFAULT)
    return int(high * max(len(original), _RATIO_MIN_CHARS))


def length_ratio_off(original: str, translation: str, target: str) -> float | None:
    """``translation``'s length over ``original``'s (characters) when it is implausible for
    ``target``, else None. Below the band only for originals of 40 characters or more;
    above it for any original, a short one counted as 40 characters (so "Yes." may become a
    short sentence, never a page)."""
    if not original:
        return None
    low, _high = _RATIO.get(target.split("-")[0].lower(), _RATIO_DEFAULT)
    ratio = len(translation) / len(original)
    too_long = len(translation) > longest_plausible(original, target)
    too_short = len(original) >= _RATIO_MIN_CHARS and ratio < low
    return ratio if too_long or too_short else None


def in_text(term: str, text: str) -> re.Match[str] | None:
    """Where ``term`` occurs in ``text`` as a whole word or phrase, any case."""
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE)


def target_script_present(translation: str, original: str, target: str) -> bool:
    """Whether ``translation`` is in ``target``'s script (CJK, Cyrillic...); for
    Latin-script targets, whether it differs from ``original`` at all."""
    script = script_of(target)
    if script is not None:
        return bool(script.search(translation))
    # Latin-script targets: an answer identical to the source was not translated.
    return _words(translation) != _words(original)


def check_unit(
    unit: Unit,
    answer: TurnOut,
    *,
    target: str,
    glossary: list[GlossaryEntry],
    check_start: bool = True,
) -> Verdict:
    """Check the model's ``answer`` for ``unit``: not empty, balanced bold, begins like the
    original (``check_start``), in the target script, numbers and glossary terms kept, a
    plausible length. Never raises; problems are in the verdict."""
    fatal: list[str] = []
    minor: list[str] = []
    text = answer.translation.strip()
    if not text:
        return Verdict(None, ["the translation is empty"])
    if text.count("**") % 2:
        fatal.append("unbalanced ** bold markers; write plain text without Markdown")
    # Paragraphs stay (one per line); code owns the bold, so markers the model added go.
    paragraphs = (" ".join(p.split()) for p in text.replace("**", "").split("\n"))
    text = "\n".join(p for p in paragraphs if p)
    if check_start:
        said = _words(answer.source_start)[:3]
        if not said or not _starts_like(said, _words(unit.text)[:6]):
            fatal.append(
                f"source_start {answer.source_start!r} is not how line {unit.id} begins "
                "(is this the translation of another line?)"
            )
    if not target_script_present(text, unit.text, target):
        fatal.append(f"the translation is not in the target language {target}")
    if fatal:
        return Verdict(None, fatal)

    missing = missing_numbers(unit.text, text)
    if missing:
        minor.append(f"numbers missing from the translation: {', '.join(missing)}")
    ratio = length_ratio_off(unit.text, text, target)
    if ratio is not None:
        minor.append(f"translation length is {ratio:.2f}x the original's (translate it all)")
    for entry in glossary:
        if in_text(entry.term, unit.text) and entry.translation not in text:
            minor.append(
                f"glossary term {entry.term!r} must be translated as {entry.translation!r}"
            )
    terms: list[tuple[str, str]] = []
    for term in answer.terms:
        if not term.source or term.source not in unit.text:
            minor.append(f"term {term.source!r} is not an exact substring of the original")
        elif not term.target or term.target not in text:
            minor.append(f"term {term.target!r} is not an exact substring of your translation")
        else:
            terms.append((term.source, term.target))
    return Verdict(UnitResult(unit.id, text, terms, []), [], minor)


def check_answer(
    units: list[Unit],
    answer: TranslateOut,
    *,
    target: str,
    glossary: list[GlossaryEntry],
) -> tuple[dict[str, Verdict], list[str]]:
    """A verdict per expected unit id, and notes on ids that should not be there."""
    by_id: dict[str, list[TurnOut]] = {}
    for item in answer.turns:
        by_id.setdefault(item.id.strip(), []).append(item)
    expected = {u.id for u in units}
    notes = [f"unexpected id {i!r} ignored" for i in by_id if i not in expected]
    single = len(units) == 1
    if single and not by_id.get(units[0].id) and len(answer.turns) == 1:
        by_id[units[0].id] = list(answer.turns)  # one line asked, one answer: it is that line
    verdicts = {}
    for unit in units:
        items = by_id.get(unit.id, [])
        if not items:
            verdicts[unit.id] = Verdict(None, [f"no translation was returned for id {unit.id}"])
        elif len(items) > 1:
            verdicts[unit.id] = Verdict(None, [f"id {unit.id} was answered more than once"])
        else:
            verdicts[unit.id] = check_unit(
                unit, items[0], target=target, glossary=glossary, check_start=not single
            )
    return verdicts, notes
