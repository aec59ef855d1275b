"""The editorial step as one call: episode + turns -> a Post, its failures, its cost.

::

    result = build_post(episode, turns, config, client, cache_dir=folder / "editorial")
    text = render_post(result.post, load_template(config.post.template))
    result.failures   # turns whose translation failed (rendered with an empty translation)
    result.usage      # tokens and requests this call spent (cached work costs nothing)

Analysis runs first (translation needs its glossary), then the chunks run
``[llm] max_concurrency`` at a time. Every finished piece of work is cached in
``cache_dir``: calling again makes no request; after a crash only unfinished chunks are
asked for; ``retry_failed=True`` asks again for failed turns only.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.config import Config
from pipeline.editorial.analysis import analyse
from pipeline.editorial.assemble import Failure, assemble_turns, sections_from_outline
from pipeline.editorial.cache import Cache
from pipeline.editorial.translate import (
    Breaker,
    ChunkResult,
    Job,
    Translator,
    translate_chunks,
)
from pipeline.editorial.units import make_units, plan_chunks
from pipeline.editorial.wire import AnalysisOut
from pipeline.errors import InputFileError
from pipeline.fsutil import write_atomic
from pipeline.langtags import language_name
from pipeline.llm import LLMClient, Usage
from pipeline.models import Episode, FrontMatter, Post, Turns

RESULT_FILE = store.EDITORIAL_FILE


@dataclass
class EditorialResult:
    """The editorial step's result: the ``post``, the ``analysis`` it used, turns that
    failed, review flags, and the cost (``usage``, chunks asked and cached, ``seconds``)."""

    post: Post
    analysis: AnalysisOut
    failures: list[Failure] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # review notes (minor problems accepted)
    usage: Usage = field(default_factory=Usage)
    chunks: int = 0
    cached_chunks: int = 0
    seconds: float = 0.0
    target: str = ""  # the target language's tag, e.g. zh-CN
    stopped: str = ""  # why the run stopped asking the model (the breaker), else ""

    def summary(self) -> dict[str, Any]:
        """What the flow stores and shows: counts, failures, flags, usage, and what review
        checks each turn against (the target language and the glossary)."""
        return {
            "turns": len(self.post.turns),
            "sections": len(self.post.sections),
            "chunks": self.chunks,
            "cached_chunks": self.cached_chunks,
            "failures": [f.__dict__ for f in self.failures],
            "flags": self.flags,
            "stopped": self.stopped,
            "target_language": self.target,
            "glossary": [
                {"term": g.term, "translation": g.translation} for g in self.analysis.glossary
            ],
            "usage": self.usage.as_dict(),
            "seconds": round(self.seconds, 3),
        }

    def save_summary(self, path: Path) -> Path:
        """Write :meth:`summary` as JSON to ``path`` atomically; returns ``path``."""
        return write_atomic(path, json.dumps(self.summary(), ensure_ascii=False, indent=2))


def front_matter(
    episode: Episode, analysis: AnalysisOut, config: Config, placeholders: Collection[str] = ()
) -> FrontMatter:
    """``placeholders`` are speaker names like "Speaker 2": never people, never the guest."""
    show = " ".join((episode.show or episode.uploader or "").split())
    return FrontMatter(
        author=show,
        date=(episode.date or dt.date.today()).isoformat(),
        guest="" if analysis.guest in placeholders else analysis.guest,
        layout=config.post.layout,
        source=episode.url,
        speaker=show,
        tags=analysis.tags,
        title=analysis.title,
        summary=analysis.summary,
        insight="",
        draft=True,
        series=config.post.series,
        category=analysis.category,
        area=analysis.area,
        project=list(config.post.project),
        people=[name for name in analysis.people if name not in placeholders],
        companies_orgs=analysis.companies_orgs,
        products_models=analysis.products_models,
        media_books=analysis.media_books,
        status=config.post.status,
    )


def build_post(
    episode: Episode,
    turns: Turns,
    config: Config,
    client: LLMClient,
    cache_dir: Path | None,
    *,
    retry_failed: bool = False,
    on_chunk: Callable[[int, int, ChunkResult], None] | None = None,
) -> EditorialResult:
    """The editorial step: analysis, then chunked translation, then the assembled post.

    ``cache_dir`` keeps every finished request (None: no cache), so a rerun asks only for
    what did not finish; ``retry_failed`` asks again for units that failed before;
    ``on_chunk(index, total, result)`` is called as each chunk finishes (any thread).
    Turns whose translation keeps failing are listed in ``failures``, not raised. Raises
    :class:`~pipeline.errors.LLMError` when the endpoint cannot be used.
    """
    started = time.monotonic()
    cache = Cache(cache_dir)
    settings = config.editorial
    target = settings.target_language
    target_name = language_name(target)
    source_name = language_name(turns.language or episode.language or "en")

    if not any(turn.text.strip() for turn in turns.turns):
        raise InputFileError(
            f"episode {episode.id} has no turns with text, so there is nothing to translate",
            hint="check its transcript (was the audio silent or the language wrong?)",
        )
    analysis = analyse(
        episode, turns.turns, source_language=source_name, target=target,
        target_name=target_name, config=config, client=client, cache=cache,
    )  # fmt: skip
    units = make_units(turns.turns, settings.max_unit_tokens)
    chunks = plan_chunks(
        units, settings.chunk_max_tokens, min_tokens=settings.chunk_min_tokens,
        parallel=config.llm.max_concurrency,
    )  # fmt: skip
    job = Job(source_name, target, target_name, tuple(analysis.out.glossary), client.model,
              settings.context_turns)  # fmt: skip
    breaker = Breaker(config.llm.max_invalid_requests)
    if analysis.failed:  # its requests count toward the breaker's streak too
        breaker.record(False, analysis.usage.requests)
    translator = Translator(client, job, units, cache, breaker=breaker)
    done = translate_chunks(
        translator, chunks, max_concurrency=config.llm.max_concurrency,
        retry_failed=retry_failed,
        on_chunk=(lambda i, r: on_chunk(i, len(chunks), r)) if on_chunk else None,
    )  # fmt: skip

    results, failed, flags = {}, {}, list(analysis.flags)
    if episode.date is None:
        flags.append("the episode has no publication date; the post uses today's")
    usage = analysis.usage
    for chunk in done:
        results.update(chunk.results)
        failed.update(chunk.failed)
        usage = usage + chunk.usage
        flags += [f"translation: {note}" for note in chunk.notes]
    for unit in units:
        for flag in results[unit.id].flags if unit.id in results else []:
            flags.append(f"turn {unit.turn_id} ({unit.id}): {flag}")
    post_turns, failures = assemble_turns(
        turns.turns, units, results, failed, analysis.out.glossary, source_name
    )
    post = Post(
        front=front_matter(
            episode, analysis.out, config, {s.name for s in turns.speakers if not s.known}
        ),
        sections=sections_from_outline(post_turns, analysis.out.sections),
    )
    return EditorialResult(
        post=post,
        analysis=analysis.out,
        failures=failures,
        flags=flags,
        usage=usage,
        chunks=len(chunks),
        cached_chunks=sum(1 for c in done if c.cached),
        seconds=time.monotonic() - started,
        target=target,
        stopped=breaker.reason if breaker.tripped else "",
    )
