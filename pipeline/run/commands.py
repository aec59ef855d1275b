"""The step commands (``podpost fetch``, ``transcribe``, ``turns``, ``translate``) as
library calls that leave the episode folder as ``podpost run`` would.

Each one resolves its episode with :func:`pipeline.store.find_episode`, holds the
episode's lock while it writes, computes the step's key as the flow does
(:mod:`pipeline.run.steps`) and records the step in ``run.json``: a later ``podpost run``
skips it, ``podpost status`` shows it (state ``pending`` until the draft is rendered),
``podpost render`` renders what ``translate`` left, and ``podpost resume`` finishes the
rest with the flags the step commands were given (kept as the run's overrides).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.config import Config, deep_merge, episode_settings
from pipeline.db import open_state
from pipeline.editorial.build import EditorialResult, build_post
from pipeline.errors import InputFileError, LLMError
from pipeline.fetch.core import ProgressHook, fetch_episode
from pipeline.fetch.urls import remember as remember_password
from pipeline.models import Episode, Transcript, Turns
from pipeline.post.render import load_template, render_post
from pipeline.review.drafts import DraftWrite, write_draft_file
from pipeline.run.ledger import Ledger
from pipeline.run.state import EpisodeRun, keep_record, lock_episode, lock_source, message
from pipeline.run.steps import (
    EDITORIAL_CACHE,
    editorial_key,
    failed_turns,
    fetch_key,
    fetch_outputs,
    known_episode,
    save_editorial,
    source_key,
    transcribe_key,
    turns_key,
)
from pipeline.transcribe.step import transcribe_episode
from pipeline.turns.diarize import DIARIZERS
from pipeline.turns.segment import caption_speakers
from pipeline.turns.step import build_turns

DRAFT_FILE = store.DRAFT_FILE  # `podpost translate`'s draft, inside the episode folder

_log = logging.getLogger(__name__)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the flags that were not given (None) or empty tables."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _present(value)
        if value is not None and value != {}:
            out[key] = value
    return out


@contextmanager
def _recorded(
    config: Config,
    folder: Path,
    episode_id: str,
    step: str,
    *,
    overrides: dict[str, Any] | None = None,
    **fields: Any,
) -> Iterator[EpisodeRun]:
    """Hold the lock and mark ``step`` running; on an error record it as the failure,
    else leave the episode ``pending``; either way upload the episode's folder to the
    storage (``[storage]``). The body calls ``run.finish_step``."""
    storage = store.Store.of(config)
    with lock_episode(config, episode_id):
        run = EpisodeRun(open_state(config), folder, episode_id)
        flags = episode_settings(_present(overrides or {}))
        if flags:
            run.state.overrides = deep_merge(run.state.overrides, flags)
        for name, value in fields.items():
            if value is not None:
                setattr(run.state, name, value)
        run.begin()
        run.start_step(step)
        try:
            yield run
        except BaseException as e:
            keep_record(_log.warning, run.fail, step, message(e))
            keep_record(_log.warning, storage.push_episode, episode_id)
            raise
        run.pause()
        storage.push_episode(episode_id)


def fetch(
    config: Config, source: str, item: str | None = None, progress: ProgressHook | None = None
) -> tuple[Episode, Path]:
    """``podpost fetch``: metadata and audio into the episode folder; returns the episode
    and its folder. A source given as an episode folder or id is loaded, not fetched;
    a source fetched before (and untouched since) costs no network. A password in the URL
    is kept in memory for the download; run.json, the ledger and messages get ``user:***@``."""
    source = remember_password(source)
    folder = store.existing_episode(config, source) or known_episode(config, source, item)
    if folder is not None:
        return store.load(folder / store.EPISODE_FILE, Episode), folder
    # the source's lease before fetching, as `podpost run` takes it: one download
    with lock_source(config, source_key(source, item), f"source {source}"):
        started = time.monotonic()
        key = fetch_key(source, item)  # before fetching: a file changed meanwhile is fetched
        ledger = Ledger.of(config)
        claimed = ledger.claims(source)  # the keys ingestion gave: the same item
        episode = fetch_episode(source, config, item=item, progress=progress, claimed=claimed)
        ledger.remember_source(source_key(source, item), episode.id)
        folder = store.episode_dir(config, episode.id)
        with _recorded(
            config, folder, episode.id, "fetch", source=source, item=item, title=episode.title
        ) as run:
            outputs = fetch_outputs(episode)
            run.finish_step("fetch", key, outputs, time.monotonic() - started)
    return episode, folder


def transcribe(
    config: Config,
    source: str,
    item: str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
) -> tuple[Episode, Path, Transcript]:
    """``podpost transcribe``: fetch first when ``source`` is not an episode yet, then write
    ``transcript.json``. ``overrides`` (the command's flags) are kept for resume."""
    episode, folder = fetch(config, source, item)
    with _recorded(config, folder, episode.id, "transcribe", overrides=overrides) as run:
        started = time.monotonic()
        transcript = transcribe_episode(episode, folder, config)
        key = transcribe_key(config, folder)
        run.finish_step("transcribe", key, [store.TRANSCRIPT_FILE], time.monotonic() - started)
    return episode, folder, transcript


def turns(
    config: Config,
    ref: str | Path,
    *,
    use_llm: bool = True,
    overrides: dict[str, Any] | None = None,
    note: Callable[[str], None] = lambda _line: None,
) -> tuple[Path, Turns]:
    """``podpost turns``: diarize, cut into turns, name the speakers (``turns.json``).

    ``use_llm=False`` names by heuristic only; without a usable LLM setup ``note`` is told
    and naming falls back to the heuristic. Backend problems (unknown name, missing extra
    or token) fail before any work.
    """
    folder = store.find_episode(config, ref, needs=(store.EPISODE_FILE, store.TRANSCRIPT_FILE))
    episode = store.load(folder / store.EPISODE_FILE, Episode)
    transcript = store.load(folder / store.TRANSCRIPT_FILE, Transcript)
    audio = folder / (episode.audio_file or "")
    needs_audio = config.diarize.backend != "none" and caption_speakers(transcript) is None
    if needs_audio and not (episode.audio_file and audio.is_file()):
        raise InputFileError(
            f"{folder} has no audio file to diarize",
            hint="run `podpost fetch` again, or pass --diarizer none",
        )
    backend = DIARIZERS.get(config.diarize.backend)(config.diarize)
    client = None
    if use_llm:
        from pipeline.llm import make_client  # the openai SDK costs ~0.5 s to import

        try:
            client = make_client(config.llm)
        except LLMError as e:
            note(f"note: naming speakers without an LLM ({e.message})")
    with _recorded(config, folder, episode.id, "turns", overrides=overrides) as run:
        started = time.monotonic()
        result = build_turns(
            episode, transcript, config, audio_path=audio, client=client, diarizer=backend
        )
        store.save(folder / store.TURNS_FILE, result)
        key = turns_key(config, folder, naming_llm=client is not None)
        run.finish_step("turns", key, [store.TURNS_FILE], time.monotonic() - started)
    return folder, result


@dataclass(frozen=True)
class Translated:
    """What ``podpost translate`` made: the editorial result and where its draft went."""

    folder: Path
    result: EditorialResult
    draft: DraftWrite


def translate(
    config: Config,
    ref: str | Path,
    *,
    output: Path | None = None,
    retry_failed: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Translated:
    """``podpost translate``: the editorial step (``post.json``, ``editorial.json``, the
    chunk cache) and a draft at ``output`` (default ``<folder>/draft.md``), written beside
    a hand-edited one rather than over it. Finished chunks are cached: running again makes
    no request. Raises LLMError (no key, endpoint down) before anything is recorded."""
    from pipeline.llm import make_client  # the openai SDK costs ~0.5 s to import

    folder = store.find_episode(config, ref, needs=(store.TURNS_FILE, store.EPISODE_FILE))
    episode = store.load(folder / store.EPISODE_FILE, Episode)
    turns = store.load(folder / store.TURNS_FILE, Turns)
    client = make_client(config.llm)
    with _recorded(config, folder, episode.id, "editorial", overrides=overrides) as run:
        started = time.monotonic()
        result = build_post(
            episode, turns, config, client, folder / EDITORIAL_CACHE, retry_failed=retry_failed
        )
        save_editorial(folder, result)
        key = editorial_key(config, folder)
        run.finish_step("editorial", key, [store.POST_FILE], time.monotonic() - started)
        usage = result.usage
        run.state.tokens += usage.prompt_tokens + usage.completion_tokens
        run.update(failed_turns=failed_turns(folder), title=result.post.front.title)
        text = render_post(result.post, load_template(config.post.template))
        remote = store.Store.of(config).remote  # the record finds the folder by id there
        draft = write_draft_file(
            output or folder / DRAFT_FILE,
            text,
            episode.id,
            None if remote else folder,
            db=run.db,
        )
    return Translated(folder, result, draft)
