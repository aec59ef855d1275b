"""Analysis over the whole transcript: glossary, section outline, front matter values.

One request when the transcript fits ``[llm] context_tokens`` (with room for the answer);
otherwise map-reduce: each part is analysed alone, then one ``analysis_reduce`` request
merges the parts' answers (no transcript) into one. The model's answer is then made
safe by code (:func:`normalise`): category and area from the configured lists, tags as
slugs, a glossary without duplicates or terms absent from the transcript, section starts
that are real turn ids in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from slugify import slugify

from pipeline.config import Config
from pipeline.editorial.cache import Cache, cache_key
from pipeline.editorial.units import clean_text
from pipeline.editorial.validate import in_text
from pipeline.editorial.wire import (
    PROMPT_VERSION,
    TASK_ANALYSIS,
    TASK_ANALYSIS_REDUCE,
    AnalysisOut,
    GlossaryEntry,
    Line,
    OutlineSection,
    analysis_schema,
    user_message,
)
from pipeline.errors import LLMOutputError, LLMTruncatedError
from pipeline.llm import LLMClient, Usage, estimate_tokens
from pipeline.models import Episode, Turn

SYSTEM = """You are the editor of a blog that publishes {source} podcast interviews \
translated into {target_name} ({target}).
The user message is a JSON header (episode metadata and the allowed values), a blank line, \
then the transcript, one line per turn: "[id] Speaker: text". Produce:
- glossary: the key terms (people, organisations, products and models, works, concepts), \
each spelled exactly as in the transcript, with one canonical {target_name} translation \
(names of people, companies and products stay as they are); kind is one of person, \
organization, product, work, concept. At most 40 entries.
- sections: the outline, one section every 5 to 10 minutes of conversation: "start" is the \
id of the turn where it begins (the first section starts at the first turn), "heading" a \
short heading in {target_name}.
- title and summary (one or two sentences) in {target_name}; tags: 3 to 6 lowercase \
hyphenated English topic tags; guest: the interviewee's name, or "" if none.
- people, companies_orgs, products_models, media_books (books, papers, articles, films): \
canonical spellings of those that appear or are discussed.
- category: one of the header's "categories"; area: one of its "areas"."""

REDUCE = """You merge partial analyses of one podcast episode (the header's "parts", in \
order) into a single analysis in the same shape: keep one glossary entry per term with one \
translation, keep the sections in order (drop near-duplicates), and write one title and \
summary in {target_name} for the whole episode. category must be one of "categories", \
area one of "areas"."""

ANSWER_RESERVE = 6000  # tokens kept free for the instructions and the answer


@dataclass
class Analysis:
    """What the analysis gave: the validated answer, review ``flags``, and what it cost
    (``usage``; ``requests`` = ``usage.requests``, 0 when it came from the cache)."""

    out: AnalysisOut
    flags: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    requests: int = 0
    failed: bool = False  # no usable answer: the post is built without an analysis


def _lines(turns: list[Turn]) -> list[Line]:
    return [Line(str(t.id), t.speaker, clean_text(t.text)) for t in turns if clean_text(t.text)]


def _parts(lines: list[Line], budget: int) -> list[list[Line]]:
    total = sum(estimate_tokens(line.render()) for line in lines)
    count = max(1, math.ceil(total / max(1000, budget)))
    target = total / count
    parts: list[list[Line]] = [[]]
    size = 0
    for line in lines:
        tokens = estimate_tokens(line.render())
        if parts[-1] and size + tokens / 2 > target and len(parts) < count:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += tokens
    return parts


def analyse(
    episode: Episode,
    turns: list[Turn],
    *,
    source_language: str,
    target: str,
    target_name: str,
    config: Config,
    client: LLMClient,
    cache: Cache,
) -> Analysis:
    """Glossary, outline and front matter values for the episode, in one request or, when
    the transcript is over ``[llm] context_tokens``, map-reduced over parts.

    ``source_language``/``target`` are language codes, ``target_name`` the target's name
    for the prompt. Answers are cached per part and whole in ``cache``; an answer that
    cannot be used ends in a minimal analysis with a flag (not cached, so the next run
    asks again). Raises :class:`~pipeline.errors.LLMError` when the endpoint is unusable.
    """
    lines = _lines(turns)
    header: dict[str, Any] = {
        "task": TASK_ANALYSIS,
        "source_language": source_language,
        "target_language": target,
        "target_language_name": target_name,
        "episode": {"title": episode.title, "show": episode.show, "guests": episode.guests,
                    "description": clean_text(episode.description)[:1500]},
        "categories": config.editorial.categories,
        "areas": config.editorial.areas,
    }  # fmt: skip
    key = cache_key("analysis", {"prompt": [PROMPT_VERSION, SYSTEM, REDUCE],
                                 "model": client.model,
                                 "header": header, "lines": [line.render() for line in lines],
                                 "budget": config.llm.context_tokens})  # fmt: skip
    cached = cache.get(key)
    if cached is not None:
        return Analysis(AnalysisOut.model_validate(cached["out"]), list(cached["flags"]))
    system = SYSTEM.format(source=source_language, target=target, target_name=target_name)
    parts = _parts(lines, config.llm.context_tokens - ANSWER_RESERVE)
    spent: list[Usage] = []
    flags: list[str] = []
    choices, areas = tuple(config.editorial.categories), tuple(config.editorial.areas)

    def ask(part: list[Line], label: str, split: bool) -> list[AnalysisOut]:
        part_header = dict(header, part=label) if label else header
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": user_message(part_header, part)}]  # fmt: skip
        # each part of a long episode is kept as it finishes: a resume skips it
        part_key = cache_key("analysis-part", [key, messages])
        done = cache.get(part_key) if label else None
        if done is not None:
            return [AnalysisOut.model_validate(done)]
        try:
            schema = analysis_schema(choices, areas, tuple(int(line.id) for line in part))
            reply = client.complete_json(messages, schema, task=TASK_ANALYSIS)
        except LLMTruncatedError as e:
            spent.append(e.usage or Usage())
            if not split or len(part) < 2:
                raise
            half = len(part) // 2  # the answer did not fit: ask about half as much
            return ask(part[:half], f"{label} (first half)".strip(), False) + ask(
                part[half:], f"{label} (second half)".strip(), False
            )
        spent.append(reply.usage)
        if label:
            cache.put(part_key, reply.value.model_dump())
        return [reply.value]

    try:
        answers: list[AnalysisOut] = []
        for index, part in enumerate(parts):
            answers += ask(part, f"{index + 1} of {len(parts)}" if len(parts) > 1 else "", True)
    except LLMOutputError as e:
        spent.append(e.usage or Usage())
        usage = Usage.total(spent)
        flags.append(f"analysis failed ({e.message}): no glossary, headings or summary; "
                     "rerun to try again")  # fmt: skip
        empty = AnalysisOut(title="", summary="")
        out, more = normalise(empty, turns, episode, config)
        # not cached: retried next run
        return Analysis(out, flags + more, usage, usage.requests, failed=True)
    out = answers[0]
    if len(answers) > 1:
        reduce_header = dict(header, task=TASK_ANALYSIS_REDUCE,
                             parts=[a.model_dump() for a in answers])  # fmt: skip
        messages = [
            {"role": "system", "content": REDUCE.format(target_name=target_name)},
            {"role": "user", "content": user_message(reduce_header, [])},
        ]
        try:
            schema = analysis_schema(choices, areas, tuple(int(line.id) for line in lines))
            reply = client.complete_json(messages, schema, task=TASK_ANALYSIS_REDUCE)
            spent.append(reply.usage)
            out = reply.value
        except LLMOutputError as e:
            spent.append(e.usage or Usage())
            flags.append(f"merging the analysis parts failed ({e.message}); merged by code")
            out = merge_parts(answers)
    usage = Usage.total(spent)
    out, more = normalise(out, turns, episode, config)
    flags += more
    cache.put(key, {"out": out.model_dump(), "flags": flags})
    return Analysis(out, flags, usage, usage.requests)


def merge_parts(answers: list[AnalysisOut]) -> AnalysisOut:
    """The reduce step done by code: the first part's title and summary, every part's
    sections in order, one glossary entry per term (the first), lists united."""
    glossary: dict[str, GlossaryEntry] = {}
    for answer in answers:
        for entry in answer.glossary:
            glossary.setdefault(entry.term.lower(), entry)

    def united(field: str) -> list[str]:
        return list(dict.fromkeys(x for a in answers for x in getattr(a, field)))

    first = answers[0]
    return first.model_copy(
        update={
            "glossary": list(glossary.values()),
            "sections": [s for a in answers for s in a.sections],
            **{f: united(f) for f in
               ("tags", "people", "companies_orgs", "products_models", "media_books")},
        }
    )  # fmt: skip


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _names(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in (_one_line(x) for x in values) if v))


def normalise(
    out: AnalysisOut, turns: list[Turn], episode: Episode, config: Config
) -> tuple[AnalysisOut, list[str]]:
    """Make the model's analysis safe to build a post from; flags say what was fixed."""
    flags: list[str] = []
    lists = config.editorial
    category = _one_line(out.category)
    if category not in lists.categories:
        flags.append(f"category {category!r} is not in the configured list; "
                     f"used {lists.categories[0]!r}")  # fmt: skip
        category = lists.categories[0]
    area = _one_line(out.area)
    if area not in lists.areas:
        flags.append(f"area {area!r} is not in the configured list; used {lists.areas[0]!r}")
        area = lists.areas[0]
    tags = list(dict.fromkeys(t for t in (slugify(x) for x in out.tags) if t))[:8]
    transcript = " ".join(clean_text(t.text) for t in turns)
    glossary: dict[str, GlossaryEntry] = {}
    for entry in out.glossary:
        term = _one_line(entry.term).replace("*", "")
        translation = _one_line(entry.translation).replace("*", "")
        if term and translation and term.lower() not in glossary and in_text(term, transcript):
            glossary[term.lower()] = GlossaryEntry(term=term, translation=translation,
                                                   kind=entry.kind)  # fmt: skip
    ids = [t.id for t in turns if clean_text(t.text)]
    known = set(ids)
    sections: dict[int, OutlineSection] = {}
    for section in out.sections:
        heading = _one_line(section.heading)
        if section.start in known and heading and section.start not in sections:
            sections[section.start] = OutlineSection(start=section.start, heading=heading)
    if len(sections) < len(out.sections):
        flags.append(f"{len(out.sections) - len(sections)} outline section(s) dropped "
                     "(unknown turn id, empty heading or duplicate start)")  # fmt: skip
    if not sections and ids:
        flags.append("the outline had no usable section; the post has no headings")
    title = _one_line(out.title) or _one_line(episode.title) or "Untitled"
    summary = _one_line(out.summary)
    if not _one_line(out.title):
        flags.append("the model gave no title")
    if not summary:
        flags.append("the model gave no summary")
    guest = _one_line(episode.guests[0]) if episode.guests else _one_line(out.guest)
    return (
        AnalysisOut(
            title=title,
            summary=summary,
            tags=tags,
            guest=guest,
            people=_names(out.people),
            companies_orgs=_names(out.companies_orgs),
            products_models=_names(out.products_models),
            media_books=_names(out.media_books),
            category=category,
            area=area,
            glossary=list(glossary.values()),
            sections=sorted(sections.values(), key=lambda s: ids.index(s.start)),
        ),
        flags,
    )
