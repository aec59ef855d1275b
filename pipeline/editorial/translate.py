"""Chunked translation with validation, a repair ladder, and a cache.

Each chunk is a run of consecutive units sent with a few preceding lines as context (not
to translate) and the glossary entries that occur in it. Every answer is checked
(:mod:`pipeline.editorial.validate`); what fails climbs a ladder, cheapest rung first:

1. ``first``: the whole chunk.
2. ``reask``: only the failed ids, quoting each one's problem. (A truncated answer skips
   this rung: the same request would be cut off again.)
3. ``split``: the ids still failing, in two halves.
4. ``single``: one unit at a time; a lone line is not checked for id or ``source_start``,
   since it cannot be confused with another.
5. The unit is marked failed and the run carries on. A unit whose only problems were
   minor (see validate) is accepted with review flags instead.

A finished chunk (failures included) is cached at once; ``retry_failed`` sends only the
failed units of cached chunks through the ladder again.

A :class:`Breaker` shared by every chunk of a run stops the ladder for a model that gives
nothing usable: after ``[llm] max_invalid_requests`` requests in a row (over all threads)
without one usable unit, no more requests are sent and the units left are failed with
:data:`STOPPED` as their reason, instead of climbing the ladder for every one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pipeline.editorial.cache import Cache, cache_key
from pipeline.editorial.units import Unit, context_lines
from pipeline.editorial.validate import (
    UnitResult,
    Verdict,
    check_answer,
    in_text,
    longest_plausible,
)
from pipeline.editorial.wire import (
    PROMPT_VERSION,
    TASK_TRANSLATE,
    GlossaryEntry,
    Line,
    LineBound,
    translate_schema,
    user_message,
)
from pipeline.errors import LLMOutputError, LLMTruncatedError
from pipeline.llm import LLMClient, Usage

SYSTEM = """You translate podcast transcripts from {source} into {target_name} ({target}) \
for a bilingual blog post.
The user message is a JSON header, a blank line, then one line per turn: "[id] Speaker: text".
- Translate every line, faithfully and completely, into one item with the same id. Never \
merge, split, skip, summarise or reorder lines, and never answer ids that were not given.
- The header's "context" lines come before; they are for understanding only.
- The glossary maps terms to their translations: use them exactly, every time.
- Keep numbers as digits. Names of people stay as written.
- Write plain text, no Markdown.
- source_start: the first three words of the original line, copied exactly.
- terms: the line's key terms, at most four (glossary terms, names, important concepts): \
"source" copied exactly from the original line, "target" copied exactly from your translation.
- If the header has "problems", your earlier answer for those ids had them: fix them."""

# Added only when an editor asks again for one turn with a note (a re-ask), so the prompt
# and the cache keys of ordinary runs stay as they were.
EDITOR_NOTE_RULE = """
- The header's "editor_note" is from the editor who asked for this translation again: \
follow it."""


STOPPED = "not asked: the model gave no valid answer in {limit} requests in a row"

START_SLACK = 20  # characters source_start may have beyond the line's first three words


def line_bound(unit: Unit, target: str) -> LineBound:
    """What a translation request's schema allows for ``unit``'s item (schema only, for a
    grammar-held model): its id; ``source_start`` up to the line's first three words plus
    :data:`START_SLACK` characters; a translation up to a quarter above the longest of
    plausible length (:func:`~pipeline.editorial.validate.longest_plausible`) plus 20
    characters, so an answer cut there is still flagged as too long by the checks."""
    start = " ".join(unit.text.split()[:3])
    plausible = longest_plausible(unit.text, target)
    return LineBound(unit.id, len(start) + START_SLACK, plausible + plausible // 4 + 20)


class Breaker:
    """Counts requests in a row, over every thread, that gave no usable unit; once there
    are ``limit`` of them (0: never) it is :attr:`tripped` and stays so for the run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.streak = 0
        self.tripped = False
        self._lock = threading.Lock()

    @property
    def reason(self) -> str:
        """Why the units left were not asked for (a failed unit's reason)."""
        return STOPPED.format(limit=self.limit)

    def record(self, valid: bool, requests: int) -> None:
        """One call's outcome: ``valid`` when some unit of its answer was usable;
        ``requests`` is what it cost (the client's re-asks included)."""
        with self._lock:
            if valid:
                self.streak = 0
                return
            self.streak += max(1, requests)
            if self.limit and self.streak >= self.limit:
                self.tripped = True


@dataclass(frozen=True)
class Job:
    """What every chunk of one episode shares."""

    source_language: str  # a name, e.g. "English"
    target: str  # a code, e.g. "zh-CN"
    target_name: str
    glossary: tuple[GlossaryEntry, ...]
    model: str
    context_turns: int = 3


@dataclass
class ChunkResult:
    """One chunk's outcome: usable ``results`` and ``failed`` units by unit id, notes for
    review, what it cost, and whether it came from the cache."""

    results: dict[str, UnitResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # unit id -> last problem
    notes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    fallback: dict[str, UnitResult] = field(default_factory=dict)  # minor-only answers

    def to_json(self) -> dict[str, Any]:
        """The cached form (results, failures, notes, usage)."""
        return {
            "results": [r.to_json() for r in self.results.values()],
            "failed": self.failed,
            "notes": self.notes,
            "usage": self.usage.as_dict(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkResult:
        """A result read back from the cache (``cached=True``, no usage: nothing spent)."""
        results = [UnitResult.from_json(r) for r in data.get("results", [])]
        return cls({r.id: r for r in results}, dict(data.get("failed", {})),
                   list(data.get("notes", [])), Usage(), cached=True)  # fmt: skip


def glossary_for(glossary: tuple[GlossaryEntry, ...], units: list[Unit]) -> list[GlossaryEntry]:
    """The glossary entries whose term occurs in some unit's text."""
    return [g for g in glossary if any(in_text(g.term, u.text) for u in units)]


class Translator:
    """Translates chunks of units with the client, validating, re-asking and splitting,
    and caching each finished chunk. Safe to call from several threads at once.

    ``reask`` marks an editor's request to translate again (from the review page): its
    values join the cache key, so a re-ask never reuses the run's answer, and a non-empty
    ``reask["editor_note"]`` is sent in the request's header with a rule to follow it.
    """

    def __init__(
        self,
        client: LLMClient,
        job: Job,
        units: list[Unit],
        cache: Cache,
        *,
        reask: dict[str, str] | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.client = client
        self.breaker = breaker or Breaker(0)
        self.job = job
        self.units = units
        self.position = {u.id: i for i, u in enumerate(units)}
        self.cache = cache
        self.reask = reask
        self.note = (reask or {}).get("editor_note", "").strip()
        self.system = SYSTEM.format(
            source=job.source_language, target=job.target, target_name=job.target_name
        ) + (EDITOR_NOTE_RULE if self.note else "")

    def _context(self, units: list[Unit]) -> list[Unit]:
        return context_lines(self.units, self.position[units[0].id], self.job.context_turns)

    def _glossary(self, units: list[Unit]) -> list[GlossaryEntry]:
        return glossary_for(self.job.glossary, units)

    def key(self, chunk: list[Unit]) -> str:
        """The cache key of ``chunk``: prompt, model, languages, units, context, glossary
        (and the re-ask's values, for a re-ask)."""
        inputs: dict[str, object] = {
            "prompt": [PROMPT_VERSION, self.system],  # a prompt edit is a cache miss
            "model": self.job.model,
            "source": self.job.source_language,
            "target": self.job.target,
            "units": [[u.id, u.speaker, u.text] for u in chunk],
            "context": [[u.id, u.speaker, u.text] for u in self._context(chunk)],
            "glossary": [[g.term, g.translation] for g in self._glossary(chunk)],
        }  # fmt: skip
        if self.reask is not None:
            inputs["reask"] = self.reask
        return cache_key("translate", inputs)

    # -- one chunk ----------------------------------------------------------------------

    def run_chunk(self, chunk: list[Unit], *, retry_failed: bool = False) -> ChunkResult:
        """The chunk's result, from the cache when there (with ``retry_failed``, only its
        failed units are asked again). Raises :class:`~pipeline.errors.LLMError` when the
        endpoint is unusable; answers that cannot be used end as failed units."""
        key = self.key(chunk)
        cached = self.cache.get(key)
        if cached is not None:
            result = ChunkResult.from_json(cached)
            if not (retry_failed and result.failed):
                return result
            again = [u for u in chunk if u.id in result.failed]
            result.failed, result.cached = {}, False
        else:
            result, again = ChunkResult(), chunk
        self._solve(again, {}, "first", result)
        for unit_id in list(result.failed):
            if unit_id in result.fallback:  # a flawed answer beats none
                result.results[unit_id] = result.fallback[unit_id]
                del result.failed[unit_id]
        self.cache.put(key, result.to_json())
        return result

    def _ask(
        self, units: list[Unit], problems: dict[str, list[str]]
    ) -> tuple[dict[str, Verdict] | None, str, bool, Usage]:
        """Verdicts per id, or None with the chunk-wide problem and whether it was cut off."""
        glossary = glossary_for(self.job.glossary, units)
        header: dict[str, Any] = {
            "task": TASK_TRANSLATE,
            "source_language": self.job.source_language,
            "target_language": self.job.target,
            "target_language_name": self.job.target_name,
            "glossary": {g.term: g.translation for g in glossary},
            "context": [Line(u.id, u.speaker, u.text).render() for u in self._context(units)],
        }
        if self.note:
            header["editor_note"] = self.note
        if problems:
            header["problems"] = {i: "; ".join(p) for i, p in problems.items() if p}
        lines = [Line(u.id, u.speaker, u.text) for u in units]
        messages = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": user_message(header, lines)},
        ]
        try:
            reply = self.client.complete_json(
                messages,
                translate_schema(tuple(line_bound(u, self.job.target) for u in units)),
                task=TASK_TRANSLATE,
            )
        except LLMOutputError as e:
            truncated = isinstance(e, LLMTruncatedError)
            return None, e.message, truncated, e.usage or Usage()
        verdicts, notes = check_answer(
            units, reply.value, target=self.job.target, glossary=glossary
        )
        return verdicts, "; ".join(notes), False, reply.usage

    def _solve(
        self, units: list[Unit], problems: dict[str, list[str]], stage: str, acc: ChunkResult
    ) -> None:
        if self.breaker.tripped:  # the model gives nothing usable: stop asking
            for unit in units:
                acc.failed[unit.id] = self.breaker.reason
            return
        verdicts, error, truncated, usage = self._ask(units, problems)
        acc.usage = acc.usage + usage
        valid = verdicts is not None and any(v.result is not None for v in verdicts.values())
        self.breaker.record(valid, usage.requests)
        bad: dict[str, list[str]] = {}
        if verdicts is None:
            bad = {u.id: [error] for u in units}
        else:
            if error:
                acc.notes.append(error)
            for unit in units:
                verdict = verdicts[unit.id]
                if verdict.result is not None and (not verdict.minor or stage != "first"):
                    verdict.result.flags = list(verdict.minor)
                    acc.results[unit.id] = verdict.result
                    continue
                if verdict.result is not None:
                    verdict.result.flags = list(verdict.minor)
                    acc.fallback[unit.id] = verdict.result
                bad[unit.id] = verdict.problems
        remaining = [u for u in units if u.id in bad]
        if not remaining:
            return
        if stage == "first" and not truncated:
            groups, after = [remaining], "reask"
        elif len(remaining) > 1 and stage in ("first", "reask"):
            half = (len(remaining) + 1) // 2
            groups, after = [remaining[:half], remaining[half:]], "split"
        elif stage != "single":
            groups, after = [[u] for u in remaining], "single"
        else:
            for unit in remaining:
                acc.failed[unit.id] = "; ".join(bad[unit.id])
            return
        for group in groups:
            self._solve(group, {u.id: bad[u.id] for u in group}, after, acc)


def translate_chunks(
    translator: Translator,
    chunks: list[list[Unit]],
    *,
    max_concurrency: int,
    retry_failed: bool = False,
    on_chunk: Callable[[int, ChunkResult], None] | None = None,
) -> list[ChunkResult]:
    """All chunks, ``max_concurrency`` at a time; results in chunk order. An error that ends
    the run (auth, endpoint gone) stops the rest; finished chunks are cached already."""
    results: list[ChunkResult | None] = [None] * len(chunks)
    stop = threading.Event()

    def guarded(chunk: list[Unit]) -> ChunkResult | None:
        if stop.is_set():  # another chunk hit an error that ends the run
            return None
        try:
            return translator.run_chunk(chunk, retry_failed=retry_failed)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        futures = {pool.submit(guarded, chunk): index for index, chunk in enumerate(chunks)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                index = futures[future]
                result = results[index] = future.result()
                if on_chunk is not None and result is not None:
                    on_chunk(index, result)
    return [r for r in results if r is not None]
