"""Review flags of one post: pure checks, most urgent first.

``review_post(post, ...)`` returns the :class:`Flag` list of one post: failed translations,
each turn checked against its own original as the editorial step checks it (untranslated
text, an implausible length, lost numbers or names, glossary terms; errors, see
:mod:`pipeline.review.quality`), missing front matter values, unknown speakers,
translations far longer or shorter than their original, glossary terms translated
inconsistently, a section without a heading, and an edit since generation.
``flags_by_turn`` groups them per turn (1-based); ``flags_table`` gives rows for a Prefect
table artifact. Re-exported by :mod:`pipeline.review.flags`.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Literal

from pipeline.models import Post
from pipeline.review.quality import TurnContext, turn_problems
from pipeline.review.record import sha256_text

Severity = Literal["error", "warning", "info"]

# Kinds in order of urgency; a flag's place in a list is (severity, kind, turn).
KINDS = (
    "format",  # the file does not pass `podpost post check`
    "failed-translation",
    "untranslated",  # the per-turn checks of pipeline.review.quality: the editorial
    "length-ratio",  # step's own, run on the draft as it is now
    "lost-number",
    "lost-name",
    "glossary-term",
    "missing-front-matter",
    "unknown-speaker",
    "length-off",
    "inconsistent-term",
    "no-heading",
    "edited",
    "speakers-draft",  # `run --until turns`: turns to confirm, nothing translated yet
)
# What a speakers draft is checked for: who speaks, and whether the file is sound. The
# translation and front matter checks wait for the post that `podpost resume` writes.
SPEAKERS_DRAFT_KINDS = frozenset({"format", "unknown-speaker", "edited", "speakers-draft"})
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

# Front matter values a published post needs; tags and people are expected but may be empty.
REQUIRED_VALUES = ("title", "summary", "author", "speaker", "source", "date", "category", "area")
EXPECTED_VALUES = ("tags", "people")

_UNKNOWN_SPEAKER_RE = re.compile(
    r"^(?:(?:speaker|spk|unknown|guest|host|说话人|发言人|讲者|未知)[\s_-]*\d*|s\d+|\?+)$",
    re.IGNORECASE,
)
TERM_RE = re.compile(r"\*\*([^*]+?)\*\*\s*[（(]\s*([^（）()]+?)\s*[）)]")
_LATIN_RE = re.compile(r"[A-Za-z]")

MIN_ORIGINAL_CHARS = 60  # shorter originals ("Yeah.", "Thanks!") have no meaningful ratio
LENGTH_FACTOR = 2.5  # a ratio this many times above or below the post's usual one is flagged
MIN_TURNS_FOR_MEDIAN = 5


@dataclass(frozen=True)
class Flag:
    """One thing for the editor to look at; ``severity`` says how urgent."""

    kind: str
    severity: Severity
    message: str
    turn: int | None = None  # 1-based number of the (first) turn concerned
    turns: tuple[int, ...] = ()  # every turn concerned, 1-based
    section: int | None = None  # 1-based
    field: str | None = None  # front matter key
    line: int | None = None  # for format problems

    def to_dict(self) -> dict[str, object]:
        """The flag as JSON (for ``--json`` output and the page)."""
        data = asdict(self)
        data["turns"] = list(self.turns)
        return data


def _urgency(flag: Flag) -> tuple[int, int, int, str]:
    return (
        _SEVERITY_RANK[flag.severity],
        KINDS.index(flag.kind),
        flag.turn if flag.turn is not None else -1,
        flag.message,
    )


def sort_flags(flags: list[Flag]) -> list[Flag]:
    """``flags`` most urgent first: severity, then kind, then turn."""
    return sorted(flags, key=_urgency)


# --- the pure checks ------------------------------------------------------------------


def _visible(text: str) -> str:
    """Text as counted for length: no bold markers, no whitespace."""
    return "".join(text.replace("**", "").split())


def _is_cjk(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F") and char.isalpha()


def _failed_translations(post: Post) -> list[Flag]:
    return [
        Flag(
            "failed-translation",
            "error",
            f"turn {number} ({turn.speaker}) has no translation; translate it or rerun with "
            f"--retry-failed",
            turn=number,
            turns=(number,),
        )
        for number, turn in enumerate(post.turns, 1)
        if not turn.translation or not "".join(turn.translation).strip()
    ]


def _turn_checks(post: Post, context: TurnContext) -> list[Flag]:
    return [
        Flag(kind, "error", message, turn=number, turns=(number,))
        for kind, number, message in turn_problems(post, context)
    ]


def _missing_front_matter(post: Post) -> list[Flag]:
    flags = []
    values = post.front.model_dump()
    wanted: list[tuple[str, Severity]] = [(k, "error") for k in REQUIRED_VALUES]
    wanted += [(k, "warning") for k in EXPECTED_VALUES]
    for key, severity in wanted:
        if not values[key]:
            flags.append(
                Flag("missing-front-matter", severity, f"front matter '{key}' is empty", field=key)
            )
    return flags


def is_unknown_speaker(name: str) -> bool:
    """True for placeholder names such as "Speaker 2", "S1" or "说话人1"."""
    return bool(_UNKNOWN_SPEAKER_RE.match(name.strip()))


def _unknown_speakers(post: Post, unknown_names: set[str]) -> list[Flag]:
    where: dict[str, list[int]] = defaultdict(list)
    for number, turn in enumerate(post.turns, 1):
        if turn.speaker in unknown_names or is_unknown_speaker(turn.speaker):
            where[turn.speaker].append(number)
    return [
        Flag(
            "unknown-speaker",
            "warning",
            f"speaker '{name}' is a placeholder ({len(turns)} turns); give the real name",
            turn=turns[0],
            turns=tuple(turns),
        )
        for name, turns in where.items()
    ]


def _length_ratios(post: Post) -> dict[int, float]:
    ratios = {}
    for number, turn in enumerate(post.turns, 1):
        original = len(_visible(turn.original))
        if turn.translation and original >= MIN_ORIGINAL_CHARS:
            ratios[number] = len(_visible(" ".join(turn.translation))) / original
    return ratios


def _usual_ratio(post: Post, ratios: dict[int, float]) -> float:
    if len(ratios) >= MIN_TURNS_FOR_MEDIAN:
        return statistics.median(ratios.values())
    # Too few turns to learn from: Chinese/Japanese run about a third of English's characters.
    text = _visible("".join(p for turn in post.turns for p in turn.translation))
    cjk = sum(1 for char in text if _is_cjk(char))
    return 0.3 if text and cjk / len(text) > 0.3 else 1.1


def _length_off(post: Post) -> list[Flag]:
    ratios = _length_ratios(post)
    if not ratios:
        return []
    usual = _usual_ratio(post, ratios)
    flags = []
    for number, ratio in ratios.items():
        if ratio < usual / LENGTH_FACTOR or ratio > usual * LENGTH_FACTOR:
            which = "short" if ratio < usual else "long"
            flags.append(
                Flag(
                    "length-off",
                    "warning",
                    f"turn {number}: translation is {ratio:.2f}x the original's length, "
                    f"usual here {usual:.2f}x; it may be too {which} (dropped or invented text)",
                    turn=number,
                    turns=(number,),
                )
            )
    return flags


def glossary_terms(post: Post) -> dict[str, dict[str, list[int]]]:
    """English term (folded) -> translation -> turns where ``**译名**（Term）`` reads so."""
    found: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for number, turn in enumerate(post.turns, 1):
        for paragraph in turn.translation:
            for translated, term in TERM_RE.findall(paragraph):
                translated, term = translated.strip(), " ".join(term.split())
                if not _LATIN_RE.search(term) or translated.casefold() == term.casefold():
                    continue
                turns = found[term.casefold()][translated]
                if number not in turns:
                    turns.append(number)
    return {term: dict(variants) for term, variants in found.items()}


def _inconsistent_terms(post: Post) -> list[Flag]:
    flags = []
    for term, variants in glossary_terms(post).items():
        if len(variants) < 2:
            continue
        # The most used translation is taken as canonical; the others are the ones to fix.
        ranked = sorted(variants.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
        odd_turns = sorted(n for _, turns in ranked[1:] for n in turns)
        listing = "; ".join(
            f"'{name}' in turn{'s' if len(t) > 1 else ''} {', '.join(map(str, t))}"
            for name, t in ranked
        )
        flags.append(
            Flag(
                "inconsistent-term",
                "warning",
                f"term '{term}' is translated {len(variants)} ways: {listing}",
                turn=odd_turns[0],
                turns=tuple(sorted(n for _, t in ranked for n in t)),
            )
        )
    return flags


def _sections_without_heading(post: Post) -> list[Flag]:
    flags = []
    first_turn = 1
    for index, section in enumerate(post.sections, 1):
        if section.heading is None:
            flags.append(
                Flag(
                    "no-heading",
                    "info",
                    f"section {index} (turns {first_turn}-{first_turn + len(section.turns) - 1}) "
                    f"has no heading",
                    turn=first_turn,
                    turns=tuple(range(first_turn, first_turn + len(section.turns))),
                    section=index,
                )
            )
        first_turn += len(section.turns)
    return flags


def review_post(
    post: Post,
    *,
    text: str | None = None,
    generated_sha256: str | None = None,
    unknown_speakers: set[str] | frozenset[str] = frozenset(),
    context: TurnContext | None = None,
) -> list[Flag]:
    """Every flag of one post, most urgent first.

    ``text`` and ``generated_sha256`` (from the draft record) detect an edit since
    generation; ``unknown_speakers`` adds names that turns.json marks as not known;
    ``context`` (the target language and glossary ``editorial.json`` records) is what each
    turn is checked against (by default the target is guessed from the post, no glossary).
    """
    flags = [
        *_failed_translations(post),
        *_turn_checks(post, context or TurnContext()),
        *_missing_front_matter(post),
        *_unknown_speakers(post, set(unknown_speakers)),
        *_length_off(post),
        *_inconsistent_terms(post),
        *_sections_without_heading(post),
    ]
    if text is not None and generated_sha256 and sha256_text(text) != generated_sha256:
        flags.append(Flag("edited", "info", "edited by hand since the pipeline generated it"))
    return sort_flags(flags)


def flags_by_turn(flags: list[Flag]) -> dict[int | None, list[Flag]]:
    """Flags keyed by every turn they concern (None: the post as a whole)."""
    grouped: dict[int | None, list[Flag]] = defaultdict(list)
    for flag in flags:
        for number in flag.turns or (None,):
            grouped[number].append(flag)
    return dict(grouped)


def flags_table(flags: list[Flag]) -> list[dict[str, object]]:
    """Rows for a table (Prefect's ``create_table_artifact``)."""
    return [
        {"severity": f.severity, "kind": f.kind, "turn": f.turn or "", "message": f.message}
        for f in flags
    ]
