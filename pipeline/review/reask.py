"""Ask the LLM again for one turn's translation, from the review page.

The request goes the editorial step's own way: the same client (injected), the same
translator with its validation and repair ladder (:class:`pipeline.editorial.translate.
Translator`), the same cache (the episode's ``editorial/`` folder) and the same bolding of
key terms (:func:`pipeline.editorial.assemble.translation_paragraphs`). The editor's note,
when given, travels in the request header as ``editor_note``. The answer is a
:class:`Proposal`; nothing is written here: the page shows it beside the current
translation and the editor accepts it (an ordinary validated save) or discards it.

The glossary is read back from the post itself (its ``**译名**（Term）`` first mentions), so
a re-ask keeps the draft's terms; the few turns before are sent as context, as in the run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import store
from pipeline.editorial.assemble import translation_paragraphs
from pipeline.editorial.cache import Cache
from pipeline.editorial.translate import Job, Translator
from pipeline.editorial.units import Unit, language_name
from pipeline.editorial.wire import GlossaryEntry
from pipeline.errors import EditError
from pipeline.llm import LLMClient, Usage
from pipeline.models import Post
from pipeline.review.checks import TERM_RE
from pipeline.review.edits import plain

MAX_NOTE_CHARS = 500


@dataclass
class Proposal:
    """A new translation for turn ``turn`` (1-based), or why there is none."""

    turn: int
    paragraphs: list[str] = field(default_factory=list)  # as the post shows them (with bold)
    problems: list[str] = field(default_factory=list)  # set when the translation failed
    usage: Usage = field(default_factory=Usage)  # what this request cost (0 when cached)
    cached: bool = False

    def to_dict(self) -> dict[str, object]:
        """The proposal as the page receives it (JSON)."""
        return {
            "turn": self.turn,
            "paragraphs": self.paragraphs,
            "problems": self.problems,
            "usage": self.usage.as_dict(),
            "cached": self.cached,
        }


@dataclass
class Reasker:
    """What the preview needs to ask again; built by the CLI from the config.

    ``client`` makes the LLM client on first use (a preview that never re-asks needs no LLM
    settings); ``on_usage(episode_dir, usage)`` accounts the tokens (the CLI adds them to
    the episode's run record, as a run does)."""

    client: Callable[[], LLMClient]
    target: str = "zh-CN"
    context_turns: int = 3
    on_usage: Callable[[Path | None, Usage], None] | None = None

    def ask(self, post: Post, number: int, note: str, episode_dir: Path | None) -> Proposal:
        """A new translation of turn ``number`` of ``post``; its tokens are accounted."""
        cache_dir = episode_dir / store.EDITORIAL_CACHE if episode_dir is not None else None
        proposal = reask_turn(
            self.client(), post, number, note=note, target=self.target,
            cache=Cache(cache_dir), context_turns=self.context_turns,
        )  # fmt: skip
        if self.on_usage is not None and proposal.usage.requests:
            self.on_usage(episode_dir, proposal.usage)
        return proposal


def post_glossary(post: Post) -> tuple[GlossaryEntry, ...]:
    """Terms the post introduces as ``**译名**（Term）``: the first spelling of each term and
    its most used translation, in order of first mention."""
    spelling: dict[str, str] = {}
    used: dict[str, Counter[str]] = defaultdict(Counter)
    for turn in post.turns:
        for paragraph in turn.translation:
            for translated, term in TERM_RE.findall(paragraph):
                term = " ".join(term.split())
                spelling.setdefault(term.casefold(), term)
                used[term.casefold()][translated.strip()] += 1
    return tuple(
        GlossaryEntry(
            term=spelling[key], translation=used[key].most_common(1)[0][0], kind="concept"
        )
        for key in spelling
    )


def _mentioned_before(post: Post, number: int) -> set[str]:
    """Lowercased terms whose first mention (with its ``（Term）``) is in an earlier turn."""
    return {
        " ".join(term.split()).lower()
        for turn in post.turns[: number - 1]
        for paragraph in turn.translation
        for _, term in TERM_RE.findall(paragraph)
    }


def reask_turn(
    client: LLMClient,
    post: Post,
    number: int,
    *,
    note: str = "",
    target: str = "zh-CN",
    cache: Cache | None = None,
    context_turns: int = 3,
) -> Proposal:
    """A new translation of turn ``number`` (1-based) of ``post``. Raises EditError for a
    turn that does not exist or a note that is too long; LLM errors that end a run
    (:class:`pipeline.errors.LLMError`) propagate."""
    turns = post.turns
    if not 1 <= number <= len(turns):
        raise EditError(f"there is no turn {number} (the post has {len(turns)})")
    note = " ".join(note.split())
    if len(note) > MAX_NOTE_CHARS:
        raise EditError(f"the note is over {MAX_NOTE_CHARS} characters; shorten it")
    units = [Unit(str(i), i, t.speaker, plain(t.original)) for i, t in enumerate(turns, 1)]
    turn = turns[number - 1]
    glossary = post_glossary(post)
    job = Job(turn.source_language, target, language_name(target), glossary, client.model,
              context_turns)  # fmt: skip
    reask = {"editor_note": note, "replacing": "\n".join(turn.translation)}
    translator = Translator(client, job, units, cache or Cache(None), reask=reask)
    unit = units[number - 1]
    result = translator.run_chunk([unit])
    if unit.id not in result.results:
        problem = result.failed.get(unit.id, "no translation came back")
        return Proposal(number, problems=[problem], usage=result.usage, cached=result.cached)
    paragraphs, _ = translation_paragraphs(
        unit.text, result.results[unit.id], list(glossary), _mentioned_before(post, number)
    )
    return Proposal(number, paragraphs, usage=result.usage, cached=result.cached)
