"""The data contract between pipeline stages.

Stages take and return these types; every file podpost stores (episode.json,
transcript.json, turns.json, ...) is one of them serialised with ``model_dump_json``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _one_line(value: str) -> str:
    # splitlines() knows every line break YAML and editors do (\x85, \u2028, ...).
    if len(value.splitlines()) > 1 or value.endswith(("\n", "\r")):
        raise ValueError("must be a single line")
    if any(unicodedata.category(char) == "Cc" and char != "\t" for char in value):
        raise ValueError("must not contain control characters")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _non_empty_line(value: str) -> str:
    _one_line(value)
    if not value:
        raise ValueError("must not be empty")
    return value


def _speaker_name(value: str) -> str:
    _non_empty_line(value)
    if "*" in value:
        raise ValueError("a speaker name cannot contain '*' (it would break the bold label)")
    return value


def _tag(value: str) -> str:
    if not TAG_RE.match(value):
        raise ValueError(f"tag {value!r} must be lowercase and hyphenated, like 'ai-safety'")
    return value


def _date(value: str) -> str:
    if not DATE_RE.match(value):
        raise ValueError(f"date {value!r} must read YYYY-MM-DD")
    dt.date.fromisoformat(value)  # rejects 2026-02-30
    return value


OneLine = Annotated[str, AfterValidator(_one_line)]
Tag = Annotated[str, AfterValidator(_tag)]
DateString = Annotated[str, AfterValidator(_date)]
Paragraph = Annotated[str, AfterValidator(_non_empty_line)]
SpeakerName = Annotated[str, AfterValidator(_speaker_name)]

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TAG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- episodes and transcripts ----------------------------------------------------------


class Chapter(_Model):
    start: float
    end: float | None = None
    title: str


class SubtitleTrack(_Model):
    language: str
    ext: str
    url: str | None = None
    name: str | None = None
    automatic: bool = False
    file: str | None = None  # file name inside the episode folder, once saved there


class Episode(_Model):
    """One episode, whatever its source: the metadata fetch found, and where its audio is."""

    id: str  # stable: youtube-<id>, feed-<hash>, local-<hash>, url-<hash>
    source: str  # what the user gave (URL or path)
    kind: Literal["ytdlp", "feed", "direct", "local"]
    url: str  # canonical URL (file:// URI for a local file)
    title: str = ""
    show: str = ""  # show name (channel, uploader or feed title)
    uploader: str = ""
    date: dt.date | None = None  # publication date
    description: str = ""
    duration: float | None = None  # seconds
    language: str | None = None  # ISO 639-1 when the source says so
    chapters: list[Chapter] = Field(default_factory=list)
    subtitles: list[SubtitleTrack] = Field(default_factory=list)
    transcript_url: str | None = None  # Podcasting 2.0 <podcast:transcript>
    transcript_type: str | None = None
    audio_file: str | None = None  # file name inside the episode folder
    guests: list[str] = Field(default_factory=list)  # when the source names them


class Word(_Model):
    start: float
    end: float
    text: str
    probability: float | None = None


class Segment(_Model):
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None  # set when the source itself names the speaker (captions)


class Transcript(_Model):
    language: str
    backend: str
    model: str | None = None
    segments: list[Segment] = Field(default_factory=list)
    # (start, end) episode seconds of speech the first pass left without words, decoded
    # again on their own (whatever that found is in ``segments``)
    redecoded: list[tuple[float, float]] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


# --- speakers and turns -----------------------------------------------------------------


class SpeakerSpan(_Model):
    """A stretch of audio attributed to one speaker cluster by diarization."""

    start: float
    end: float
    speaker: str  # cluster label, e.g. "S0"


class Turn(_Model):
    """A stretch of the conversation spoken by one person, in the source language."""

    id: int
    speaker: str  # display name after naming, cluster label before
    start: float
    end: float
    text: str


class Speaker(_Model):
    label: str  # cluster label
    name: str  # display name ("Speaker 1" when unknown)
    known: bool  # False when the name is a placeholder and needs review
    source: Literal["override", "llm", "heuristic", "caption", "placeholder"] = "placeholder"


class Turns(_Model):
    """What the turns step stores: the turns plus how clusters were named."""

    language: str
    speakers: list[Speaker] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)


# --- the post ---------------------------------------------------------------------------


class FrontMatter(_Model):
    """The front matter of FORMAT.md: every key, in this order."""

    author: OneLine
    date: DateString  # kept a string so YAML writes it quoted, as the blog expects
    guest: OneLine = ""
    layout: OneLine = "post.njk"
    source: OneLine
    speaker: OneLine
    tags: list[Tag] = Field(default_factory=list)
    title: OneLine
    summary: OneLine
    insight: OneLine = ""
    draft: bool = True
    series: OneLine = ""
    category: OneLine
    area: OneLine
    project: list[OneLine] = Field(default_factory=list)
    people: list[OneLine] = Field(default_factory=list)
    companies_orgs: list[OneLine] = Field(default_factory=list)
    products_models: list[OneLine] = Field(default_factory=list)
    media_books: list[OneLine] = Field(default_factory=list)
    status: OneLine = "evergreen"


class PostTurn(_Model):
    """A turn as the post shows it: translation paragraphs, then the original in <details>.

    Text fields hold the text as readers see it, with ``**bold**`` key terms: escaping for
    Markdown/HTML happens only when rendering. An empty ``translation`` means the turn
    failed to translate; it renders as the bare speaker label and is flagged for review.
    """

    speaker: SpeakerName
    translation: list[Paragraph] = Field(default_factory=list)
    original: Paragraph
    source_language: Paragraph = "English"  # language *name*, shown as "Original <name>"


class Section(_Model):
    heading: Paragraph | None = None  # None only for turns before the first heading
    turns: list[PostTurn] = Field(min_length=1)


class Post(_Model):
    front: FrontMatter
    sections: list[Section] = Field(default_factory=list)

    @model_validator(mode="after")
    def _only_first_section_may_lack_heading(self) -> Post:
        # A heading-less section after another would silently merge into it on parse.
        for index, section in enumerate(self.sections):
            if index and section.heading is None:
                raise ValueError(f"section {index + 1} has no heading; only the first may lack one")
        return self

    @property
    def turns(self) -> list[PostTurn]:
        return [turn for section in self.sections for turn in section.turns]
