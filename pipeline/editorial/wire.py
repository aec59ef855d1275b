"""What the editorial steps send to the model and what they expect back.

The user message of every editorial request is one line of JSON (the task's parameters)
followed, after a blank line, by the transcript as one line per unit::

    {"task":"translate","target_language":"zh-CN",...}

    [12] Matt Turk: Welcome back to the show.
    [13.1] Pavel Izmailov: The first half of a long turn...

Lines cost a few tokens per turn where JSON objects would cost a dozen. The fake server
(:mod:`pipeline.testing.fakellm`) reads requests with :func:`parse_user_message`, so tests and
offline runs see exactly what a real model sees.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic.config import JsonDict

from pipeline.llm.types import one_item_each

PROMPT_VERSION = "editorial-1"

TASK_ANALYSIS = "analysis"
TASK_ANALYSIS_REDUCE = "analysis_reduce"
TASK_TRANSLATE = "translate"

_LINE_RE = re.compile(r"^\[(?P<id>[0-9.]+)\] (?P<speaker>[^:\n]*?): (?P<text>.*)$")


@dataclass(frozen=True)
class Line:
    """One transcript line of a request: ``[id] Speaker: text``."""

    id: str
    speaker: str
    text: str

    def render(self) -> str:
        """The line as sent: one line, single spaces, no ``:`` in the speaker."""
        text = " ".join(self.text.split())
        speaker = " ".join(self.speaker.replace(":", " ").split())
        return f"[{self.id}] {speaker}: {text}"


def user_message(header: dict[str, Any], lines: list[Line]) -> str:
    """A request's user message: the header as one line of JSON, a blank line, the lines."""
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
    return head + "\n\n" + "\n".join(line.render() for line in lines)


def parse_user_message(text: str) -> tuple[dict[str, Any], list[Line]]:
    """``(header, lines)`` back from :func:`user_message`'s text; ``ValueError`` when the
    first line is not JSON. Lines that do not parse are skipped."""
    head, _, rest = text.partition("\n")
    header = json.loads(head)
    lines = []
    for raw in rest.splitlines():
        match = _LINE_RE.match(raw)
        if match:
            lines.append(Line(match["id"], match["speaker"], match["text"]))
    return header, lines


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Bounds in the JSON *schema* only (``maxItems``, ``maxLength``, ``pattern``, ``enum``): a
# model held to the schema by a grammar (the local model) must close a list or a string
# there, where a small one would write until the output limit. Validation keeps accepting
# what lies outside them; the checks of pipeline.editorial.validate and normalise judge the
# content. Generous: a real answer stays well inside.
NAME_CHARS = 80  # a person's, company's, product's or work's name
TERM_CHARS = 60  # a glossary term or a line's key term, and their translations
HEADING_CHARS = 60
TITLE_CHARS = 120
SUMMARY_CHARS = 400  # one or two sentences (the reference post's: 150 characters)
# a tag: lowercase, hyphenated English (FORMAT.md), a few words
TAG_PATTERN = "^[a-z0-9]{1,24}(-[a-z0-9]{1,24}){0,5}$"
KINDS = ("person", "organization", "product", "work", "concept")


def _at_most(n: int) -> JsonDict:
    """At most ``n`` items, in the schema only."""
    return {"maxItems": n}


def _chars(n: int) -> JsonDict:
    """A string of at most ``n`` characters, in the schema only."""
    return {"maxLength": n}


def _strings(items: int, chars: int) -> JsonDict:
    """At most ``items`` strings of at most ``chars`` characters each, in the schema only."""
    return {"maxItems": items, "items": {"type": "string", "maxLength": chars}}


# --- analysis -------------------------------------------------------------------------


class GlossaryEntry(_Out):
    """A key term and its one translation for the whole post."""

    term: str = Field(
        description="the term exactly as the source spells it", json_schema_extra=_chars(TERM_CHARS)
    )
    translation: str = Field(
        description="its one canonical translation; names stay as they are",
        json_schema_extra=_chars(TERM_CHARS),
    )
    kind: str = Field(
        default="concept",
        description="person, organization, product, work or concept",
        json_schema_extra={"enum": list(KINDS)},
    )


class OutlineSection(_Out):
    """Where a section starts (a turn id) and its heading."""

    start: int = Field(description="id of the turn where the section starts")
    heading: str = Field(
        description="section heading in the target language",
        json_schema_extra=_chars(HEADING_CHARS),
    )


class AnalysisOut(_Out):
    """The analysis answer: front matter values, the glossary and the outline."""

    title: str = Field(json_schema_extra=_chars(TITLE_CHARS))
    summary: str = Field(json_schema_extra=_chars(SUMMARY_CHARS))
    # normalise keeps 8 tags
    tags: list[str] = Field(
        default_factory=list,
        json_schema_extra={"maxItems": 8, "items": {"type": "string", "pattern": TAG_PATTERN}},
    )
    guest: str = Field(default="", json_schema_extra=_chars(NAME_CHARS))
    people: list[str] = Field(default_factory=list, json_schema_extra=_strings(30, NAME_CHARS))
    companies_orgs: list[str] = Field(
        default_factory=list, json_schema_extra=_strings(30, NAME_CHARS)
    )
    products_models: list[str] = Field(
        default_factory=list, json_schema_extra=_strings(30, NAME_CHARS)
    )
    media_books: list[str] = Field(default_factory=list, json_schema_extra=_strings(30, NAME_CHARS))
    category: str = Field(default="", json_schema_extra=_chars(NAME_CHARS))
    area: str = Field(default="", json_schema_extra=_chars(NAME_CHARS))
    glossary: list[GlossaryEntry] = Field(default_factory=list, json_schema_extra=_at_most(40))
    sections: list[OutlineSection] = Field(default_factory=list, json_schema_extra=_at_most(20))


@functools.lru_cache(maxsize=64)
def analysis_schema(
    categories: tuple[str, ...], areas: tuple[str, ...], starts: tuple[int, ...]
) -> type[AnalysisOut]:
    """:class:`AnalysisOut` whose JSON schema allows only the request's choices: category
    and area from the configured lists, section starts among the turn ids sent (``starts``);
    an empty tuple leaves that field as it was. Schema only: validation is
    :class:`AnalysisOut`'s, and :func:`~pipeline.editorial.analysis.normalise` still mends
    what an endpoint that ignores the schema answers."""
    fields: dict[str, Any] = {}
    if categories:
        fields["category"] = (str, Field(default="", json_schema_extra={"enum": list(categories)}))
    if areas:
        fields["area"] = (str, Field(default="", json_schema_extra={"enum": list(areas)}))
    if starts:
        section = create_model(
            "OutlineSection",
            __base__=OutlineSection,
            __doc__=OutlineSection.__doc__,
            start=(int, Field(description="id of the turn where the section starts",
                              json_schema_extra={"enum": list(starts)})),
        )  # fmt: skip
        fields["sections"] = (
            list[section],  # type: ignore[valid-type]
            Field(default_factory=list, json_schema_extra=_at_most(20)),
        )
    if not fields:
        return AnalysisOut
    return create_model("AnalysisOut", __base__=AnalysisOut, __doc__=AnalysisOut.__doc__, **fields)


# --- translation ----------------------------------------------------------------------


class TermOut(_Out):
    """A key term as it appears in the original and in the translation."""

    source: str = Field(
        description="a key term, an exact substring of the original",
        json_schema_extra=_chars(TERM_CHARS),
    )
    target: str = Field(
        description="its rendering, an exact substring of the translation",
        json_schema_extra=_chars(TERM_CHARS),
    )


def _id_text(value: Any) -> Any:
    # models often answer ids as numbers; "12" and 12 are the same line
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class TurnOut(_Out):
    """One translated line: its id, its first words (to catch swapped ids), the text."""

    id: Annotated[str, BeforeValidator(_id_text)]
    source_start: str = Field(description="the first three words of the original, verbatim")
    translation: str
    # the prompt asks for at most four
    terms: list[TermOut] = Field(default_factory=list, json_schema_extra=_at_most(4))


class TranslateOut(_Out):
    """The translation answer: one entry per line asked for (a bare list is accepted)."""

    turns: list[TurnOut]

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        # JSON-mode and text-mode answers sometimes drop the wrapping object
        return {"turns": value} if isinstance(value, list) else value


@dataclass(frozen=True)
class LineBound:
    """What the schema of a translation request allows for one of its lines: its ``id``
    (the only id the line's item may have), and the most characters of its
    ``source_start`` and ``translation`` (see :func:`translate_schema`)."""

    id: str
    start_chars: int
    translation_chars: int


@functools.lru_cache(maxsize=64)
def translate_schema(lines: tuple[LineBound, ...]) -> type[TranslateOut]:
    """:class:`TranslateOut` whose JSON schema asks for exactly ``lines``, in order: item
    *i* has the id of line *i* and strings within that line's bounds, so a grammar-held
    model answers each line once, under its own id, and stops. Validation is
    :class:`TranslateOut`'s (a missing or extra line is the checks' to judge)."""
    turn = TurnOut.model_json_schema()
    term = turn.pop("$defs")["TermOut"]
    turn["properties"]["terms"]["items"] = term

    def item(line: LineBound) -> JsonDict:
        schema = json.loads(json.dumps(turn))
        props = schema["properties"]
        props["id"] = {"type": "string", "const": line.id}
        props["source_start"]["maxLength"] = line.start_chars
        props["translation"]["maxLength"] = line.translation_chars
        return schema

    return one_item_each(TranslateOut, "turns", TurnOut, [item(line) for line in lines])
