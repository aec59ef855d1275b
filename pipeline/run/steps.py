"""The steps of a run, each a plain function of a :class:`Job`, and the key of each.

Every step has a *key*: a hash of the contents of its inputs and of the settings that
change its result, never a run id. ``run.json`` records the key and fingerprints of the
files the step wrote; a step whose key and files are unchanged is skipped and its saved
result loaded (:mod:`pipeline.run.state`). The flow (``podpost run``) and the step commands
(``podpost fetch``, ``transcribe``, ``turns``, ``translate``, ``render``) compute the same
keys and record the same way, so each skips what the other finished.

The stages keep their own finer caches too (fetch never downloads twice; editorial caches
each validated chunk), so an interrupted step redoes only its unfinished part.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from pipeline import store
from pipeline.config import Config
from pipeline.db import open_state
from pipeline.editorial.build import RESULT_FILE, EditorialResult, build_post
from pipeline.fetch.core import fetch_episode
from pipeline.fetch.local import local_source
from pipeline.models import Episode, Post, Transcript, Turns
from pipeline.post.render import load_template, render_post
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter, relay_warnings
from pipeline.run.state import EpisodeRun, digest, fingerprint, load_state
from pipeline.transcribe.step import transcribe_episode
from pipeline.turns.step import build_turns

M = TypeVar("M", bound=BaseModel)  # a step's saved result

EDITORIAL_CACHE = store.EDITORIAL_CACHE  # the editorial step's chunk cache (a folder)


# --- keys: what each step's result depends on ----------------------------------------------


def source_key(source: str, item: str | None) -> str:
    """The ledger's key of a source (and feed item)."""
    return source if item is None else f"{source}\n{item}"


def _settings(model: Any, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=set(drop))


def fetch_key(source: str, item: str | None) -> str:
    """Fetch depends on the source; a local file's on what the file holds now too (its
    :func:`~pipeline.run.state.fingerprint`), so a recording exported again to the same
    path is fetched again and becomes its own episode instead of reusing the old one."""
    path = local_source(source)
    if path is None or not path.is_file():
        return digest("fetch", source, item)
    return digest("fetch", source, item, fingerprint(path))


def fetch_outputs(episode: Episode) -> list[str]:
    """The files fetch leaves: ``episode.json`` and the audio, when there is audio."""
    return [store.EPISODE_FILE] + ([episode.audio_file] if episode.audio_file else [])


def transcribe_key(config: Config, folder: Path) -> str:
    """The episode's metadata and the ``[asr]`` settings."""
    return digest("transcribe", fingerprint(folder / store.EPISODE_FILE), _settings(config.asr))


def turns_key(config: Config, folder: Path, *, naming_llm: bool = True) -> str:
    """The transcript, ``[diarize]`` (not its token), ``[turns]``, and the naming model
    (``naming_llm=False``: named without the LLM)."""
    return digest(
        "turns",
        fingerprint(folder / store.TRANSCRIPT_FILE),
        _settings(config.diarize, drop=("hf_token",)),
        _settings(config.turns),
        config.llm.model if naming_llm else None,
    )


def editorial_key(config: Config, folder: Path) -> str:
    """Turns, metadata, ``[editorial]``, ``[post]`` (not its template) and the model."""
    return digest(
        "editorial",
        fingerprint(folder / store.TURNS_FILE),
        fingerprint(folder / store.EPISODE_FILE),
        _settings(config.editorial),
        _settings(config.post, drop=("template",)),
        config.llm.model,
        config.llm.temperature,
    )


def render_key(text: str) -> str:
    """Render is always redone; its key records what it rendered."""
    return digest("render", hashlib.sha256(text.encode("utf-8")).hexdigest())


def _summary(folder: Path) -> dict[str, Any]:
    try:
        summary = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def failed_turns(folder: Path) -> int:
    """How many turns the editorial step left untranslated (from its ``editorial.json``)."""
    return len(_summary(folder).get("failures") or [])


def failure_report(folder: Path) -> tuple[list[int], str]:
    """The post's numbers (1-based) of the turns the editorial step left untranslated, and
    why it stopped asking the model ("" unless its breaker tripped)."""
    summary = _summary(folder)
    numbers = [int(f.get("number") or 0) for f in summary.get("failures") or []]
    return [n for n in numbers if n > 0], str(summary.get("stopped") or "")


def save_editorial(folder: Path, result: EditorialResult) -> None:
    """Keep the editorial result: ``editorial.json`` (summary) and ``post.json``."""
    result.save_summary(folder / RESULT_FILE)
    store.save(folder / store.POST_FILE, result.post)


def check_backends(config: Config) -> None:
    """Every backend a run of ``config`` will use is one podpost has: the ASR, diarization
    and LLM registries are asked now, so a typo fails in one line before any download
    (:class:`UnknownBackendError`, listing the valid names) and no run state is touched."""
    from pipeline.llm import backends as llm_backends
    from pipeline.transcribe.backends import ASR_BACKENDS
    from pipeline.turns.diarize import DIARIZERS

    ASR_BACKENDS.get(config.asr.backend)
    DIARIZERS.get(config.diarize.backend)
    llm_backends.get(config.llm.backend)


# --- what every step gets ------------------------------------------------------------------


@dataclass
class Job:
    """One run of one episode: its settings, progress, run state and LLM client."""

    config: Config
    report: Reporter
    source: str
    item: str | None = None
    episode_id: str | None = None  # the episode a resume must stay, when it is known
    run: EpisodeRun | None = None
    episode: Episode | None = None
    llm: Any = None  # the LLM client, made on first use (turns naming, editorial)
    tokens: int = 0  # spent by this run
    retry_failed: bool = False  # ask the LLM again for turns whose translation failed
    failed_turns: int = 0  # turns the editorial step left untranslated
    failed_numbers: list[int] = field(default_factory=list)  # their numbers in the post
    stopped: str = ""  # why the editorial step stopped asking the model, if it did
    skipped: list[str] = field(default_factory=list)
    # wraps the LLM client when it is made (the Prefect flow: a client whose requests
    # take the pool's shared LLM slots, flows.limits.GatedClient)
    wrap_llm: Callable[[Any], Any] | None = None
    _storage: store.Store | None = field(default=None, repr=False)

    def storage(self) -> store.Store:
        """Where the episode is kept (``[storage]``): pulls and pushes go through it."""
        if self._storage is None or self._storage.root != self.config.work_dir:
            self._storage = store.Store.of(self.config)
        return self._storage

    def save_progress(self) -> None:
        """Upload what changed in the episode's folder (a finished step's outputs and the
        run record), so a run on another machine can go on from here."""
        if self.episode is not None:
            self.storage().push_episode(self.episode.id)

    @property
    def folder(self) -> Path:
        """The episode's folder; only once the fetch step has set :attr:`episode`."""
        assert self.episode is not None
        return store.episode_dir(self.config, self.episode.id)

    def client(self) -> Any:
        """The run's one LLM client (so its usage counts the whole run)."""
        if self.llm is None:
            from pipeline.llm import make_client  # the openai SDK costs ~0.5 s to import

            client = make_client(self.config.llm)
            self.llm = self.wrap_llm(client) if self.wrap_llm else client
        return self.llm

    def count_tokens(self) -> None:
        """Set ``tokens`` from the client's usage so far."""
        if self.llm is not None:
            usage = self.llm.usage()
            self.tokens = usage.prompt_tokens + usage.completion_tokens


def _step(
    job: Job,
    step: str,
    key: str,
    outputs: list[str],
    compute: Callable[[], M],
    model: type[M],
    *,
    force: bool = False,
) -> M:
    """Run ``compute`` unless the step is fresh (then its saved result, ``outputs[0]``, is
    loaded); record it in run.json when it finishes, and upload what it made to the
    storage (a no-op when the storage is the data folder)."""
    assert job.run is not None
    if not force and job.run.fresh(step, key):
        job.skipped.append(step)
        job.report.skip(step)
        return store.load(job.folder / outputs[0], model)
    job.run.start_step(step)
    started = time.monotonic()
    with relay_warnings(job.report.warn):  # a stage's warnings reach the run's output
        result = compute()
    seconds = time.monotonic() - started
    job.run.finish_step(step, key, outputs, seconds)
    job.save_progress()
    job.report.done(step, seconds)
    return result


# --- the steps ------------------------------------------------------------------------------


def known_episode(
    config: Config, source: str, item: str | None, episode_id: str | None = None
) -> Path | None:
    """The folder of a finished fetch of ``source`` that is still as it was left, if any
    (pulled from the storage when it is kept there). ``episode_id``: the episode the
    source is said to be (a resume), when the ledger does not know it."""
    known = Ledger.of(config).episode_for(source_key(source, item)) or episode_id
    if known is None:
        return None
    store.Store.of(config).pull_episode(known)  # it may have been made on another machine
    folder = store.episode_dir(config, known)
    db = open_state(config)
    if load_state(db, known) is None or not EpisodeRun(db, folder, known).fresh(
        "fetch", fetch_key(source, item)
    ):
        return None
    return folder


def step_fetch(job: Job) -> Episode:
    """Metadata and audio. Skipped without any network when a finished fetch is on record."""
    folder = known_episode(job.config, job.source, job.item, job.episode_id)
    if folder is not None:
        job.skipped.append("fetch")
        job.report.skip("fetch")
        return store.load(folder / store.EPISODE_FILE, Episode)
    job.report.start("fetch", job.source)
    with job.report.bar("download", None) as update:

        def hook(info: dict[str, Any]) -> None:
            if info.get("status") == "downloading":
                total = info.get("total_bytes") or info.get("total_bytes_estimate")
                update(info.get("downloaded_bytes") or 0, total)

        started = time.monotonic()
        ledger = Ledger.of(job.config)
        claimed = ledger.claims(job.source)  # the keys ingestion gave: the same item
        episode = fetch_episode(
            job.source, job.config, item=job.item, progress=hook, claimed=claimed
        )
    before = ledger.episode_for(source_key(job.source, job.item))
    ledger.remember_source(source_key(job.source, job.item), episode.id)
    job.report.done("fetch", time.monotonic() - started, episode.title or episode.id)
    if before not in (None, episode.id) and local_source(job.source) is not None:
        job.report.line(
            f"note: {job.source} changed since it became episode {before}, so it is a new "
            f"episode, {episode.id}; {before} and its draft are kept as they were"
        )
    return episode


def step_transcribe(job: Job) -> Transcript:
    """The timed transcript (``transcript.json``)."""

    def compute() -> Transcript:
        assert job.episode is not None
        job.report.start("transcribe", f"{job.config.asr.backend} backend")
        with job.report.bar("transcription (audio seconds)", job.episode.duration) as update:
            return transcribe_episode(job.episode, job.folder, job.config, progress=update)

    key = transcribe_key(job.config, job.folder)
    return _step(job, "transcribe", key, [store.TRANSCRIPT_FILE], compute, Transcript)


def step_turns(job: Job, transcript: Transcript) -> Turns:
    """Diarization, turns and speaker names (``turns.json``)."""

    def compute() -> Turns:
        assert job.episode is not None
        job.report.start("turns", f"{job.config.diarize.backend} diarization, naming")
        turns = build_turns(job.episode, transcript, job.config, client=job.client())
        store.save(job.folder / store.TURNS_FILE, turns)
        return turns

    key = turns_key(job.config, job.folder)
    return _step(job, "turns", key, [store.TURNS_FILE], compute, Turns)


def step_editorial(job: Job, turns: Turns) -> Post:
    """Analysis, then translation chunks (``[llm] max_concurrency`` at once). The editorial
    cache in ``editorial/`` keeps every finished chunk, so after a failure or a kill the
    step asks only for the chunks that did not finish."""

    def compute() -> Post:
        assert job.episode is not None
        job.report.start("editorial", f"analysis and translation with {job.config.llm.model}")
        with job.report.bar("translation chunks", None) as update:
            done = 0

            def on_chunk(_index: int, total: int, _result: Any) -> None:
                nonlocal done
                done += 1
                update(done, total)

            result = build_post(
                job.episode,
                turns,
                job.config,
                job.client(),
                job.folder / EDITORIAL_CACHE,
                retry_failed=job.retry_failed,
                on_chunk=on_chunk,
            )
        save_editorial(job.folder, result)
        return result.post

    key = editorial_key(job.config, job.folder)
    try:
        post = _step(
            job, "editorial", key, [store.POST_FILE], compute, Post, force=job.retry_failed
        )
    finally:
        job.count_tokens()
    job.failed_turns = failed_turns(job.folder)
    job.failed_numbers, job.stopped = failure_report(job.folder)
    return post


def step_render(job: Job, post: Post) -> str:
    """Always redone: it is cheap, and the template or config may have changed."""
    assert job.run is not None
    job.run.start_step("render")
    started = time.monotonic()
    text = render_post(post, load_template(job.config.post.template))
    job.run.finish_step("render", render_key(text), [], time.monotonic() - started)
    return text


STEPS: dict[str, Callable[..., Any]] = {
    "fetch": step_fetch,
    "transcribe": step_transcribe,
    "turns": step_turns,
    "editorial": step_editorial,
    "render": step_render,
}
