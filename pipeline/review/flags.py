"""Review of drafts on disk: flags, where each turn sits in the audio, the draft record.

Two layers:

* **Pure** (in :mod:`pipeline.review.checks`, re-exported here): ``review_post(post, ...)``
  returns the :class:`Flag` list of one post, most urgent first. ``turn_times`` /
  ``turn_spans`` and ``source_link`` find where each turn starts (and ends) in the episode.
* **Edges** (file reads): ``review_draft`` / ``review_drafts`` read drafts, their records
  and the episode's turns.json (or the turns the preview recorded after a structural edit).

The draft record (the API the runs use; code in ``pipeline.review.record``)
--------------------------------------------------------------------------
Every draft ``<name>.md`` may have a record (a :class:`DraftRecord`), a row of the state
database keyed by ``drafts/<name>.md``. The pipeline writes it when it writes a draft::

    from pipeline.review.flags import generation_record, is_edited, review_state

    write_atomic(draft_path, text)
    generation_record(db, draft_path, text, episode_id=episode.id, episode_dir=folder)

``generation_record`` stores the sha256 of the text as generated (and where the episode
lives, so previews find ``turns.json``); earlier approve/reject decisions stay in the history.
Before overwriting a draft, ``is_edited(db, draft_path)`` says whether a person changed it since.
``review_state(db, draft_path)`` is one of ``drafted``, ``edited``, ``approved``, ``rejected``
(for ``podpost status``): a decision holds while the file is the one decided on; a file that
differs from both the generated text and the last decision is ``edited``. A draft without a
record is ``drafted``. ``flags_table(flags)`` gives rows for a Prefect table artifact.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from pipeline.db import StateDB
from pipeline.errors import InputFileError
from pipeline.models import Episode, Post, Turns
from pipeline.post.parse import analyze
from pipeline.review.checks import (
    _SEVERITY_RANK,
    KINDS,
    SPEAKERS_DRAFT_KINDS,
    Flag,
    Severity,
    _urgency,
    flags_by_turn,
    flags_table,
    glossary_terms,
    is_unknown_speaker,
    review_post,
    sort_flags,
)
from pipeline.review.quality import TurnContext, TurnQuality, turn_quality
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
    record_key,
    record_path,
    review_state,
    save_record,
    sha256_text,
    state_of,
)
from pipeline.store import EDITORIAL_FILE, EPISODE_FILE, TURNS_FILE

__all__ = [  # the draft record's API lives in pipeline.review.record; flows use it from here
    "KINDS",
    "STATES",
    "Decision",
    "DraftRecord",
    "DraftReview",
    "Flag",
    "Severity",
    "State",
    "flags_by_turn",
    "flags_table",
    "generation_record",
    "glossary_terms",
    "is_edited",
    "is_unknown_speaker",
    "load_record",
    "read_draft",
    "record_decision",
    "record_key",
    "record_path",
    "review_draft",
    "review_drafts",
    "review_post",
    "review_state",
    "save_record",
    "sha256_text",
    "sort_flags",
    "source_link",
    "state_of",
    "turn_spans",
    "turn_times",
]

# --- where each turn starts ------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").split())


Span = tuple[float, float]  # (start, end) in seconds of the episode's audio


def turn_spans(post: Post, turns: Turns | None) -> list[Span | None]:
    """(start, end) seconds of each post turn, from turns that match it (None: unknown).

    Originals equal the transcript turns once the bold markers are gone, so turns match by
    text in order; when that fails but the counts agree, they match by position.
    """
    if turns is None or not turns.turns:
        return [None] * len(post.turns)
    spans: list[Span | None] = []
    position = 0
    for turn in post.turns:
        wanted = _plain(turn.original)
        for index in range(position, len(turns.turns)):
            if _plain(turns.turns[index].text) == wanted:
                spans.append((turns.turns[index].start, turns.turns[index].end))
                position = index + 1
                break
        else:
            spans.append(None)
    if any(s is None for s in spans) and len(turns.turns) == len(post.turns):
        return [(t.start, t.end) for t in turns.turns]
    return spans


def turn_times(post: Post, turns: Turns | None) -> list[float | None]:
    """Start second of each post turn (see :func:`turn_spans`)."""
    return [span[0] if span else None for span in turn_spans(post, turns)]


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
    """Seconds as ``M:SS`` (``H:MM:SS`` from an hour); ``""`` for None."""
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


def load_summary(episode_dir: Path | None) -> dict[str, object] | None:
    """The editorial step's ``editorial.json`` of the episode, or None when it is missing
    or unreadable (the turn checks then guess the target language and use no glossary)."""
    if episode_dir is None:
        return None
    try:
        summary = json.loads((Path(episode_dir) / EDITORIAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def load_turns(episode_dir: Path | None) -> Turns | None:
    """The episode's turns.json, or None when it is missing or unreadable."""
    if episode_dir is None:
        return None
    try:
        return Turns.model_validate_json((Path(episode_dir) / TURNS_FILE).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None  # no start times: links degrade, review still works


@dataclass
class DraftReview:
    """One draft under review: its state, flags, post and where each turn sits."""

    path: Path
    state: State
    title: str
    flags: list[Flag]
    post: Post | None = None
    text: str = ""
    times: list[float | None] = field(default_factory=list)
    episode_dir: Path | None = None
    spans: list[Span | None] = field(default_factory=list)  # (start, end) per turn
    turns: Turns | None = None  # the turns the times come from
    quality: list[TurnQuality] = field(default_factory=list)  # per turn

    def counts(self) -> dict[str, int]:
        """How many flags of each severity (every severity present, 0 included)."""
        counted = Counter(str(flag.severity) for flag in self.flags)
        return {severity: counted.get(severity, 0) for severity in _SEVERITY_RANK}

    def urgency(self) -> tuple[object, ...]:
        """Sort key: undecided drafts first, then by their worst flag, then by how many."""
        settled = 1 if self.state in ("approved", "rejected") else 0
        worst = _urgency(self.flags[0])[:2] if self.flags else (len(_SEVERITY_RANK), len(KINDS))
        c = self.counts()
        return (settled, worst, -c["error"], -c["warning"], -c["info"], str(self.path))

    def to_dict(self, *, turns: bool = False) -> dict[str, object]:
        """The review as JSON; ``turns=True`` adds each turn's speaker, time and flags."""
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
                    "quality": self.quality[number - 1].to_dict() if self.quality else None,
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
    # After a split or merge in the preview, the record holds the turns as edited.
    turns = load_turns(episode_dir)
    if record is not None and record.turns is not None and turns is not None:
        turns = turns.model_copy(update={"turns": record.turns})
    unknown = {s.name for s in turns.speakers if not s.known} if turns else set()
    spans = turn_spans(post, turns)
    context = TurnContext.from_summary(load_summary(episode_dir))
    flags = review_post(
        post,
        text=text,
        generated_sha256=record.generated_sha256 if record else None,
        unknown_speakers=unknown,
        context=context,
    )
    if formats:
        flags = sort_flags([*flags, *formats])
    if record is not None and record.stage == "turns":
        flags = sort_flags([
            *(f for f in flags if f.kind in SPEAKERS_DRAFT_KINDS),
            Flag("speakers-draft", "info", "speaker turns to confirm, not yet translated: fix "
                 f"them in the preview, then `podpost resume {record.episode_id}` translates"),
        ])  # fmt: skip
    return DraftReview(
        path,
        state,
        post.front.title,
        flags,
        post=post,
        text=text,
        times=[span[0] if span else None for span in spans],
        episode_dir=episode_dir,
        spans=spans,
        turns=turns,
        quality=turn_quality(post, context),
    )


def review_draft(draft_path: Path, *, db: StateDB, episodes_dir: Path | None = None) -> DraftReview:
    """Review the draft at ``draft_path`` with its record in ``db`` (see :func:`review_text`)."""
    draft_path = Path(draft_path)
    return review_text(
        read_draft(draft_path),
        path=draft_path,
        record=load_record(db, draft_path),
        episodes_dir=episodes_dir,
    )


def draft_files(drafts_dir: Path) -> list[Path]:
    """The drafts (``*.md``) in a folder, by name."""
    return sorted(p for p in Path(drafts_dir).glob("*.md") if p.is_file())


def check_drafts_dir(drafts_dir: Path) -> None:
    """Raise :class:`InputFileError` when the drafts folder does not exist (checked before
    the state database is opened, so a mistyped folder creates nothing)."""
    if not Path(drafts_dir).is_dir():
        raise InputFileError(
            f"drafts folder {drafts_dir} does not exist",
            hint="run `podpost run URL` first, or set drafts_dir in podpost.toml",
        )


def review_drafts(
    drafts_dir: Path, *, db: StateDB, episodes_dir: Path | None = None
) -> list[DraftReview]:
    """Every draft in the folder, most urgent first (settled ones last)."""
    check_drafts_dir(drafts_dir)
    reviews = [
        review_draft(path, db=db, episodes_dir=episodes_dir) for path in draft_files(drafts_dir)
    ]
    return sorted(reviews, key=DraftReview.urgency)


def reviews_json(reviews: list[DraftReview]) -> str:
    """Several reviews as the JSON ``podpost review --json`` prints."""
    return json.dumps({"drafts": [r.to_dict() for r in reviews]}, ensure_ascii=False, indent=2)
