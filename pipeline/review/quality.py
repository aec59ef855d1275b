"""Each turn's translation checked against its own original, and a cheap quality signal.

Pure. The checks are the editorial step's own (:mod:`pipeline.editorial.validate`), run on
the draft as it is now, so an editor's fix clears its flag and nothing the pipeline
accepted with a problem stays hidden:

* ``untranslated``: no text in the target language's script (or, for a Latin-script
  target, the original's words as they were), or 10 or more words in a row copied from
  the original;
* ``length-ratio``: the translation's length against the turn's *own* original, outside
  the band the editorial step allows for the target (a short original counts as 40
  characters, so "Yes." may become a sentence, never a page);
* ``lost-number``: a number written in digits in the original missing from the
  translation; ``lost-name``: a person the front matter names (``guest``, ``people``)
  who is in the original but not in the translation (names of people stay as written);
* ``glossary-term``: a term of the episode's glossary (``editorial.json``) in the
  original whose glossary translation is not in the translation.

:func:`turn_quality` is a per-turn signal in [0, 1] with the parts it is made of: the
share of the translation written in the target's script, how many numbers, names and
glossary terms were kept, and how far the turn's length ratio lies from the episode's
usual one (a robust z-score: median and median absolute deviation of the log ratios).
No model runs; it costs a few regular expressions per turn.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Any

from pipeline.editorial.validate import (
    in_text,
    length_ratio_off,
    missing_numbers,
    numbers_in,
    script_of,
    target_script_present,
)
from pipeline.models import Post, PostTurn

COPIED_WORDS = 10  # this many words in a row copied from the original: left untranslated
MIN_RATIO_CHARS = 20  # shorter originals take no part in the episode's usual length ratio
MIN_TURNS_FOR_Z = 5
Z_OK = 2.5  # a length z-score within +-2.5 costs the score nothing
SPREAD_FLOOR = 0.25  # of the log ratios: near-identical ratios in a short post are no signal
LOW_QUALITY = 0.5  # `podpost review DRAFT` lists a turn scored below this even unflagged

_GLOSS_RE = re.compile(r"[（(][^（）()]*[）)]")  # the "（Term）" after a term's first mention
_WORD_RE = re.compile(r"\w+")
_LATIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_GUESSES = (
    ("ja", _KANA_RE),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)


def plain(text: str) -> str:
    """Text without bold markers, on one line."""
    return " ".join(text.replace("**", "").split())


def translation_text(turn: PostTurn) -> str:
    """A turn's translation as checked: paragraphs joined, no bold markers."""
    return "\n".join(plain(p) for p in turn.translation if p.strip())


def unglossed(translation: str) -> str:
    """The translation as the model wrote it: without the ``（Term）`` code adds after a
    term's first mention (what the editorial step's length check saw)."""
    return _GLOSS_RE.sub("", translation)


def guess_target(post: Post) -> str:
    """The target language of a post whose editorial record is gone, from the script most
    of its translations are in ("" for a Latin-script one: checked by words then)."""
    text = "".join(p for turn in post.turns for p in turn.translation)
    for code, script in _GUESSES:
        if len(script.findall(text)) * 3 >= len(_LATIN_WORD_RE.findall(text)) > 0 or (
            script.search(text) and not _LATIN_WORD_RE.search(text)
        ):
            return code
    return ""


def copied_run(original: str, translation: str, at_least: int = COPIED_WORDS) -> list[str]:
    """The first run of ``at_least`` or more consecutive words of ``original`` found as they
    are in ``translation`` (case-insensitive), as long as it goes on; ``[]`` when none.
    Linear: ``at_least``-word shingles of the translation in a set."""
    source = _WORD_RE.findall(original.lower())
    target = _WORD_RE.findall(translation.lower())
    shingles = {tuple(target[j : j + at_least]) for j in range(len(target) - at_least + 1)}
    for i in range(len(source) - at_least + 1):
        if tuple(source[i : i + at_least]) in shingles:
            end = i + at_least
            while end < len(source) and tuple(source[end - at_least + 1 : end + 1]) in shingles:
                end += 1
            return source[i:end]
    return []


def _names(post: Post) -> list[str]:
    front = post.front
    return [n for n in dict.fromkeys([front.guest, *front.people]) if n.strip()]


@dataclass(frozen=True)
class TurnContext:
    """What the turn checks need beyond the post: the target language's tag (``""``:
    guess it from the post) and the episode's glossary, (term, translation) pairs."""

    target: str = ""
    glossary: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_summary(cls, summary: dict[str, Any] | None) -> TurnContext:
        """The context an ``editorial.json`` summary records (empty when it records none)."""
        summary = summary or {}
        glossary = tuple(
            (str(g.get("term", "")), str(g.get("translation", "")))
            for g in summary.get("glossary") or []
            if isinstance(g, dict) and g.get("term") and g.get("translation")
        )
        return cls(str(summary.get("target_language") or ""), glossary)


def turn_problems(post: Post, context: TurnContext) -> list[tuple[str, int, str]]:
    """(kind, turn number, message) for every problem of every translated turn."""
    target = context.target or guess_target(post)
    names = _names(post)
    found: list[tuple[str, int, str]] = []
    for number, turn in enumerate(post.turns, 1):
        translation = translation_text(turn)
        if not translation:
            continue  # no translation at all is a failed-translation flag
        original = plain(turn.original)
        where = f"turn {number} ({turn.speaker})"
        copied = copied_run(original, _GLOSS_RE.sub(" ", translation))
        if not target_script_present(translation, original, target):
            found.append(("untranslated", number,
                          f"{where}: the translation is not in {target or 'the target language'}"
                          "; translate it"))  # fmt: skip
        elif len(copied) >= COPIED_WORDS:
            found.append(("untranslated", number,
                          f"{where}: {len(copied)} words are copied untranslated from the "
                          f"original (\"{' '.join(copied[:6])} …\"); translate them"))  # fmt: skip
        ratio = length_ratio_off(original, unglossed(translation), target)
        if ratio is not None:
            which = "longer" if len(translation) > len(original) else "shorter"
            found.append(("length-ratio", number,
                          f"{where}: the translation is {ratio:,.2f}x its original's length, "
                          f"far {which} than a translation into {target or 'this language'} "
                          "can be (invented or dropped text)"))  # fmt: skip
        lost = missing_numbers(original, translation)
        if lost:
            plural = "s" if len(lost) > 1 else ""
            found.append(("lost-number", number,
                          f"{where}: number{plural} {', '.join(lost)} of the original missing "
                          "from the translation"))  # fmt: skip
        for name in names:
            if in_text(name, original) and name.casefold() not in translation.casefold():
                found.append(("lost-name", number,
                              f"{where}: '{name}' (front matter) is in the original but not "
                              "in the translation; names of people stay as written"))  # fmt: skip
        for term, translated in context.glossary:
            if in_text(term, original) and translated not in translation:
                found.append(("glossary-term", number,
                              f"{where}: glossary term '{term}' is not translated as "
                              f"'{translated}'"))  # fmt: skip
    return found


@dataclass(frozen=True)
class TurnQuality:
    """One turn's quality signal: ``score`` in [0, 1] (None: no translation) and its parts."""

    score: float | None
    script: float | None = None  # share of the translation in the target's script
    length_ratio: float | None = None  # translation / original, in characters
    length_z: float | None = None  # robust z-score of the ratio within the episode
    numbers: tuple[int, int] = (0, 0)  # (kept, in the original)
    names: tuple[int, int] = (0, 0)
    terms: tuple[int, int] = (0, 0)  # glossary terms

    def to_dict(self) -> dict[str, object]:
        """The signal as JSON: ``{"score": .., "script": .., "numbers": [kept, of], ...}``."""
        return {
            "score": self.score,
            "script": self.script,
            "length_ratio": self.length_ratio,
            "length_z": self.length_z,
            "numbers": list(self.numbers),
            "names": list(self.names),
            "terms": list(self.terms),
        }

    def describe(self) -> str:
        """One line for a person: ``quality 0.42 (script 90%, length z 3.1, numbers 1/2)``."""
        if self.score is None:
            return "quality -"
        parts = []
        if self.script is not None:
            parts.append(f"script {self.script:.0%}")
        if self.length_z is not None:
            parts.append(f"length z {round(self.length_z, 1) + 0.0:+.1f}")
        for label, (kept, total) in (("numbers", self.numbers), ("names", self.names),
                                     ("terms", self.terms)):  # fmt: skip
            if total:
                parts.append(f"{label} {kept}/{total}")
        return f"quality {self.score:.2f}" + (f" ({', '.join(parts)})" if parts else "")


def _script_share(translation: str, target: str) -> float | None:
    """Target-script characters over those plus Latin words (a word ~ a character's
    worth of meaning in CJK): 1.0 all translated, near 0 left in English."""
    script = script_of(target)
    if script is None:
        return None
    native = len(script.findall(translation))
    foreign = len(_LATIN_WORD_RE.findall(_GLOSS_RE.sub(" ", translation)))
    return native / (native + foreign) if native + foreign else None


def _kept(wanted: list[str], present: list[str]) -> tuple[int, int]:
    return len(wanted) - len(present), len(wanted)


def turn_quality(post: Post, context: TurnContext) -> list[TurnQuality]:
    """The quality signal of every turn of ``post``, in order."""
    target = context.target or guess_target(post)
    names = _names(post)
    pairs = [(plain(t.original), translation_text(t)) for t in post.turns]
    lengths = [len(unglossed(tr)) for _, tr in pairs]
    logs = {i: math.log(lengths[i] / len(orig)) for i, (orig, tr) in enumerate(pairs)
            if tr and len(orig) >= MIN_RATIO_CHARS}  # fmt: skip
    centre = spread = None
    if len(logs) >= MIN_TURNS_FOR_Z:
        centre = statistics.median(logs.values())
        mad = statistics.median(abs(x - centre) for x in logs.values())
        spread = max(1.4826 * mad, SPREAD_FLOOR)
    result = []
    for index, (original, translation) in enumerate(pairs):
        if not translation:
            result.append(TurnQuality(None))
            continue
        share = _script_share(translation, target)
        z = None
        if centre is not None and spread is not None and index in logs:
            z = round((logs[index] - centre) / spread, 2) + 0.0  # never -0.0
        numbers = _kept(sorted(numbers_in(original)), missing_numbers(original, translation))
        in_original = [n for n in names if in_text(n, original)]
        names_kept = sum(1 for n in in_original if n.casefold() in translation.casefold())
        terms = [t for t in context.glossary if in_text(t[0], original)]
        terms_kept = sum(1 for _, translated in terms if translated in translation)
        score = 1.0
        if share is not None:
            score *= min(1.0, share / 0.5)
        if not target_script_present(translation, original, target):
            score = 0.0
        if z is not None and abs(z) > Z_OK:
            score *= max(0.0, 1 - (abs(z) - Z_OK) / 4)  # 0 from +-6.5
        if length_ratio_off(original, unglossed(translation), target) is not None:
            score = min(score, 0.2)
        for kept, total in (numbers, (names_kept, len(in_original)), (terms_kept, len(terms))):
            if total:
                score *= kept / total
        result.append(
            TurnQuality(
                round(score, 2),
                round(share, 2) if share is not None else None,
                round(lengths[index] / len(original), 2) if original else None,
                z,
                numbers,
                (names_kept, len(in_original)),
                (terms_kept, len(terms)),
            )
        )
    return result
