"""Review flags for drafts, and the small record that tracks each draft's review state.

Two layers:

* **Pure**: ``review_post(post, ...)`` returns the :class:`Flag` list of one post, most urgent
  first: failed translations, missing front matter values, unknown speakers, translations far
  longer or shorter than their original, glossary terms translated inconsistently, a section
  without a heading, and an edit since generation. ``turn_times`` and ``source_link`` find
  where each turn starts in the episode.
* **Edges** (file reads): ``review_draft`` / ``review_drafts`` read drafts, their records
  and the episode's turns.json.

The draft record (the API the runs use; code in ``pipeline.review.record``)
--------------------------------------------------------------------------
Every draft ``<name>.md`` may have a sidecar ``<name>.meta.json`` beside it (a
:class:`DraftRecord`). The pipeline writes it when it writes a draft::

    from pipeline.review.flags import generation_record, is_edited, review_state

    write_atomic(draft_path, text)
    generation_record(draft_path, text, episode_id=episode.id, episode_dir=folder)

``generation_record`` stores the sha256 of the text as generated (and where the episode
lives, so previews find ``turns.json``); earlier approve/reject decisions stay in the history.
Before overwriting a draft, ``is_edited(draft_path)`` says whether a person changed it since.
``review_state(draft_path)`` is one of ``drafted``, ``edited``, ``approved``, ``rejected``
(for ``podpost status``): a decision holds while the file is the one decided on; a file that
differs from both the generated text and the last decision is ``edited``. A draft without a
record is ``drafted``. ``flags_table(flags)`` gives rows for a Prefect table artifact.
"""

from __future__ import annotations

import json
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from pipeline.errors import InputFileError
from pipeline.models import Episode, Post, Turns
from pipeline.post.parse import analyze
from pipeline.review.record import (
    STATES,
    Decision,
    DraftRecord,
    State,
    generation_record,
    is_edited,
    load_record,
    read_draft,
    record_decision,
    record_path,
    review_state,
    save_record,
    sha256_text,
    state_of,
)
from pipeline.store import EPISODE_FILE, TURNS_FILE

__all__ = [  # the draft record's API lives in review_record; FLOWS uses it from here
    "STATES",
    "Decision",
    "DraftRecord",
    "DraftReview",
    "Flag",
    "State",
    "flags_table",
    "generation_record",
    "is_edited",
    "load_record",
    "read_draft",
    "record_decision",
    "record_path",
    "review_draft",
    "review_drafts",
    "review_post",
    "review_state",
    "save_record",
    "sha256_text",
    "source_link",
    "state_of",
    "turn_times",
]

Severity = Literal["error", "warning", "info"]

# Kinds in order of urgency; a flag's place in a list is (severity, kind, turn).
KINDS = (
    "format",  # the file does not pass `podpost post check`
    "failed-translation",
    "missing-front-matter",
    "unknown-speaker",
    "length-off",
    "inconsistent-term",
    "no-heading",
    "edited",
)
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

# Front matter values a published post needs; tags and people are expected but may be empty.
REQUIRED_VALUES = ("title", "summary", "author", "speaker", "source", "date", "category", "area")
EXPECTED_VALUES = ("tags", "people")

_UNKNOWN_SPEAKER_RE = re.compile(
    r"^(?:(?:speaker|spk|unknown|guest|host|说话人|发言人|讲者|未知)[\s_-]*\d*|s\d+|\?+)$",
    re.IGNORECASE,
)
_TERM_RE = re.compile(r"\*\*([^*]+?)\*\*\s*[（(]\s*([^（）()]+?)\s*[）)]")
_LATIN_RE = re.compile(r"[A-Za-z]")

MIN_ORIGINAL_CHARS = 60  # shorter originals ("Yeah.", "Thanks!") have no meaningful ratio
LENGTH_FACTOR = 2.5  # a ratio this many times above or below the post's usual one is flagged
MIN_TURNS_FOR_MEDIAN = 5


@dataclass(frozen=True)
class Flag:
    kind: str
    severity: Severity
    message: str
    turn: int | None = None  # 1-based number of the (first) turn concerned
    turns: tuple[int, ...] = ()  # every turn concerned, 1-based
    section: int | None = None  # 1-based
    field: str | None = None  # front matter key
    line: int | None = None  # for format problems

    def to_dict(self) -> dict[str, object]:
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
            for translated, term in _TERM_RE.findall(paragraph):
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
) -> list[Flag]:
    """Every flag of one post, most urgent first.

    ``text`` and ``generated_sha256`` (from the draft record) detect an edit since
    generation; ``unknown_speakers`` adds names that turns.json marks as not known.
    """
    flags = [
        *_failed_translations(post),
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


# --- where each turn starts ------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").split())


def turn_times(post: Post, turns: Turns | None) -> list[float | None]:
    """Start second of each post turn, from the episode's turns.json when it matches.

    Originals equal the transcript turns once the bold markers are gone, so turns match by
    text in order; when that fails but the counts agree, they match by position.
    """
    if turns is None or not turns.turns:
        return [None] * len(post.turns)
    times: list[float | None] = []
    position = 0
    for turn in post.turns:
        wanted = _plain(turn.original)
        for index in range(position, len(turns.turns)):
            if _plain(turns.turns[index].text) == wanted:
                times.append(turns.turns[index].start)
                position = index + 1
                break
        else:
            times.append(None)
    if any(t is None for t in times) and len(turns.turns) == len(post.turns):
        return [t.start for t in turns.turns]
    return times


def source_link(url: str, seconds: float | None) -> str | None:
    """The source at a moment: YouTube's ``t=``, else a media fragment ``#t=``."""
    if not url or seconds is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    at = max(0, int(seconds))
    host = parts.netloc.lower().removeprefix("www.").removeprefix("m.")
    if host in ("youtube.com", "youtu.be", "music.youtube.com", "youtube-nocookie.com"):
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "t"]
        query.append(("t", f"{at}s"))
        return urlunsplit(parts._replace(query=urlencode(query), fragment=""))
    return urlunsplit(parts._replace(fragment=f"t={at}"))


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# --- one draft, all drafts --------------------------------------------------------------


def find_episode_dir(
    source: str, episodes_dir: Path | None, record: DraftRecord | None = None
) -> Path | None:
    """The episode folder of a draft: the one its record names, else the one whose
    episode.json has the draft's ``source`` as its URL."""
    if record and record.episode_dir and Path(record.episode_dir).is_dir():
        return Path(record.episode_dir)
    if episodes_dir is None or not source:
        return None
    if record and record.episode_id and (Path(episodes_dir) / record.episode_id).is_dir():
        return Path(episodes_dir) / record.episode_id
    for path in sorted(Path(episodes_dir).glob(f"*/{EPISODE_FILE}")):
        try:
            episode = Episode.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, ValueError):
            continue
        if source in (episode.url, episode.source):
            return path.parent
    return None


def load_turns(episode_dir: Path | None) -> Turns | None:
    if episode_dir is None:
        return None
    try:
        return Turns.model_validate_json((Path(episode_dir) / TURNS_FILE).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None  # no start times: links degrade, review still works


@dataclass
class DraftReview:
    path: Path
    state: State
    title: str
    flags: list[Flag]
    post: Post | None = None
    text: str = ""
    times: list[float | None] = field(default_factory=list)
    episode_dir: Path | None = None

    def counts(self) -> dict[str, int]:
        counted = Counter(str(flag.severity) for flag in self.flags)
        return {severity: counted.get(severity, 0) for severity in _SEVERITY_RANK}

    def urgency(self) -> tuple[object, ...]:
        """Sort key: undecided drafts first, then by their worst flag, then by how many."""
        settled = 1 if self.state in ("approved", "rejected") else 0
        worst = _urgency(self.flags[0])[:2] if self.flags else (len(_SEVERITY_RANK), len(KINDS))
        c = self.counts()
        return (settled, worst, -c["error"], -c["warning"], -c["info"], str(self.path))

    def to_dict(self, *, turns: bool = False) -> dict[str, object]:
        data: dict[str, object] = {
            "path": str(self.path),
            "state": self.state,
            "title": self.title,
            "counts": self.counts(),
            "flags": [flag.to_dict() for flag in self.flags],
        }
        if turns and self.post is not None:
            by_turn = flags_by_turn(self.flags)
            data["turns"] = [
                {
                    "turn": number,
                    "speaker": turn.speaker,
                    "start": self.times[number - 1] if self.times else None,
                    "link": source_link(
                        self.post.front.source, self.times[number - 1] if self.times else None
                    ),
                    "flags": [f.kind for f in by_turn.get(number, [])],
                }
                for number, turn in enumerate(self.post.turns, 1)
            ]
        return data


def review_text(
    text: str,
    *,
    path: Path,
    record: DraftRecord | None = None,
    episodes_dir: Path | None = None,
) -> DraftReview:
    """Review one draft's text; each format problem is a flag (a style departure a warning)."""
    post, problems = analyze(text)
    state = state_of(text, record)
    formats = [
        Flag(
            "format", "warning" if p.style else "error", f"line {p.line}: {p.message}", line=p.line
        )
        for p in problems
    ]
    if post is None:
        flags = formats
        if record and record.generated_sha256 and sha256_text(text) != record.generated_sha256:
            flags.append(Flag("edited", "info", "edited by hand since the pipeline generated it"))
        return DraftReview(path, state, "", sort_flags(flags), text=text)
    episode_dir = find_episode_dir(post.front.source, episodes_dir, record)
    turns = load_turns(episode_dir)
    unknown = {s.name for s in turns.speakers if not s.known} if turns else set()
    flags = review_post(
        post,
        text=text,
        generated_sha256=record.generated_sha256 if record else None,
        unknown_speakers=unknown,
    )
    if formats:
        flags = sort_flags([*flags, *formats])
    return DraftReview(
        path,
        state,
        post.front.title,
        flags,
        post=post,
        text=text,
        times=turn_times(post, turns),
        episode_dir=episode_dir,
    )


def review_draft(draft_path: Path, *, episodes_dir: Path | None = None) -> DraftReview:
    draft_path = Path(draft_path)
    return review_text(
        read_draft(draft_path),
        path=draft_path,
        record=load_record(draft_path),
        episodes_dir=episodes_dir,
    )


def draft_files(drafts_dir: Path) -> list[Path]:
    return sorted(p for p in Path(drafts_dir).glob("*.md") if p.is_file())


def review_drafts(drafts_dir: Path, *, episodes_dir: Path | None = None) -> list[DraftReview]:
    """Every draft in the folder, most urgent first (settled ones last)."""
    if not Path(drafts_dir).is_dir():
        raise InputFileError(
            f"drafts folder {drafts_dir} does not exist",
            hint="run `podpost run URL` first, or set drafts_dir in podpost.toml",
        )
    reviews = [review_draft(path, episodes_dir=episodes_dir) for path in draft_files(drafts_dir)]
    return sorted(reviews, key=DraftReview.urgency)


def reviews_json(reviews: list[DraftReview]) -> str:
    return json.dumps({"drafts": [r.to_dict() for r in reviews]}, ensure_ascii=False, indent=2)
