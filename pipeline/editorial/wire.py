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


def _at_most(n: int) -> JsonDict:
    """A bound on a list in the JSON *schema* only (``maxItems``): a model held to the
    schema by a grammar (the local model) must close the list, where a small one would add
    items until the output limit. Validation keeps accepting longer lists; the checks of
    :mod:`pipeline.editorial.validate` judge the content."""
    return {"maxItems": n}


# --- analysis -------------------------------------------------------------------------


class GlossaryEntry(_Out):
    """A key term and its one translation for the whole post."""

    term: str = Field(description="the term exactly as the source spells it")
    translation: str = Field(description="its one canonical translation; names stay as they are")
    kind: str = Field("concept", description="person, organization, product, work or concept")


class OutlineSection(_Out):
    """Where a section starts (a turn id) and its heading."""

    start: int = Field(description="id of the turn where the section starts")
    heading: str = Field(description="section heading in the target language")


class AnalysisOut(_Out):
    """The analysis answer: front matter values, the glossary and the outline."""

    title: str
    summary: str
    tags: list[str] = Field(default_factory=list, json_schema_extra=_at_most(12))
    guest: str = ""
    people: list[str] = Field(default_factory=list, json_schema_extra=_at_most(30))
    companies_orgs: list[str] = Field(default_factory=list, json_schema_extra=_at_most(30))
    products_models: list[str] = Field(default_factory=list, json_schema_extra=_at_most(30))
    media_books: list[str] = Field(default_factory=list, json_schema_extra=_at_most(30))
    category: str = ""
    area: str = ""
    glossary: list[GlossaryEntry] = Field(default_factory=list, json_schema_extra=_at_most(40))
    sections: list[OutlineSection] = Field(default_factory=list, json_schema_extra=_at_most(20))


# --- translation ----------------------------------------------------------------------


class TermOut(_Out):
    """A key term as it appears in the original and in the translation."""

    source: str = Field(description="a key term, an exact substring of the original")
    target: str = Field(description="its rendering, an exact substring of the translation")


def _id_text(value: Any) -> Any:
    # models often answer ids as numbers; "12" and 12 are the same line
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class TurnOut(_Out):
    """One translated line: its id, its first words (to catch swapped ids), the text."""

    id: Annotated[str, BeforeValidator(_id_text)]
    source_start: str = Field(description="the first three words of the original, verbatim")
    translation: str
    terms: list[TermOut] = Field(default_factory=list, json_schema_extra=_at_most(8))


class TranslateOut(_Out):
    """The translation answer: one entry per line asked for (a bare list is accepted)."""

    turns: list[TurnOut]

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        # JSON-mode and text-mode answers sometimes drop the wrapping object
        return {"turns": value} if isinstance(value, list) else value


@functools.cache
def translate_schema(count: int) -> type[TranslateOut]:
    """:class:`TranslateOut` whose JSON schema asks for exactly ``count`` lines, the lines
    of one request: a grammar-held model answers each line once and stops. Validation is
    :class:`TranslateOut`'s (a missing or extra line is the checks' to judge)."""
    bounded: JsonDict = {"minItems": count, "maxItems": count}
    return create_model(
        "TranslateOut",
        __base__=TranslateOut,
        __doc__=TranslateOut.__doc__,
        turns=(list[TurnOut], Field(json_schema_extra=bounded)),
    )
