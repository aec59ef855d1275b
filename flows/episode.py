"""The episode flow: source -> fetch -> transcribe -> turns -> editorial -> render -> draft.

Each step is a plain function (``step_*``) wrapped by a thin Prefect task. Resume does not
rely on Prefect's result store: the episode folder is the source of truth. Every step has a
*key* (a hash of the contents of its inputs and of the settings that change its result,
never the run id); ``run.json`` records the key and fingerprints of the files the step
wrote, and a rerun skips a step whose key and files are unchanged (see
:mod:`pipeline.run.state`). That holds across processes, machines and a SIGKILL, and a finished
step is skipped even when the Prefect database is gone. The stages keep their own finer
caches too (fetch never downloads twice; editorial caches each validated chunk), so an
interrupted step redoes only its unfinished part.

Tasks retry only on :class:`NetworkError` (network hiccups that outlived the stage's own
backoff); everything else fails the run at once with its one-line message, which
``run.json`` keeps for ``podpost status``.

A run holds the episode's lock from the moment the episode id is known until the draft is
written, so two runs of one episode never both write. The draft never overwrites a human
edit (:mod:`pipeline.review.drafts`). At the end the run leaves two Prefect artifacts: the draft as
Markdown and the review flags as a table.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from flows.progress import Reporter
from pipeline import store
from pipeline.config import Config, load_config
from pipeline.errors import PodpostError
from pipeline.models import Episode, Post, Transcript, Turns
from pipeline.review.drafts import DraftWrite, write_draft
from pipeline.run.ledger import Ledger
from pipeline.run.state import EpisodeRun, digest, episode_lock, fingerprint, load_state

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)  # a step's saved result

POST_FILE = "post.json"  # the editorial result; `podpost render` renders it again
TASK_RETRIES = 2
RETRY_DELAYS = [2.0, 10.0]


# --- what every step gets ---------------------------------------------------------------


@dataclass
class Job:
    config: Config
    report: Reporter
    source: str
    item: str | None = None
    run: EpisodeRun | None = None
    episode: Episode | None = None
    llm: Any = None  # the LLM client, made on first use (turns naming, editorial)
    tokens: int = 0  # spent by this run
    retry_failed: bool = False  # ask the LLM again for turns whose translation failed
    skipped: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        assert self.episode is not None
        return store.episode_dir(self.config, self.episode.id)

    def client(self) -> Any:
        if self.llm is None:
            from pipeline.llm import make_client

            self.llm = make_client(self.config.llm)
        return self.llm

    def count_tokens(self) -> None:
        if self.llm is not None:
            usage = self.llm.usage()
            self.tokens = usage.prompt_tokens + usage.completion_tokens


def source_key(source: str, item: str | None) -> str:
    return source if item is None else f"{source}\n{item}"


def _settings(model: Any, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=set(drop))


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
    loaded); record it in run.json when it finishes."""
    assert job.run is not None
    if not force and job.run.fresh(step, key):
        job.skipped.append(step)
        job.report.skip(step)
        return store.load(job.folder / outputs[0], model)
    job.run.start_step(step)
    started = time.monotonic()
    result = compute()
    seconds = time.monotonic() - started
    job.run.finish_step(step, key, outputs, seconds)
    job.report.done(step, seconds)
    return result


# --- the steps ----------------------------------------------------------------------------


def fetch_key(job: Job) -> str:
    return digest("fetch", job.source, job.item)


def step_fetch(job: Job) -> Episode:
    """Metadata and audio. Skipped without any network when a finished fetch is on record."""
    from pipeline.fetch.core import fetch_episode

    known = Ledger.of(job.config).episode_for(source_key(job.source, job.item))
    if known is not None:
        folder = store.episode_dir(job.config, known)
        state = load_state(folder)
        if state is not None and EpisodeRun(folder, known).fresh("fetch", fetch_key(job)):
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
        episode = fetch_episode(job.source, job.config, item=job.item, progress=hook)
    Ledger.of(job.config).remember_source(source_key(job.source, job.item), episode.id)
    job.report.done("fetch", time.monotonic() - started, episode.title or episode.id)
    return episode


def _fetch_outputs(episode: Episode) -> list[str]:
    return [store.EPISODE_FILE] + ([episode.audio_file] if episode.audio_file else [])


def transcribe_key(job: Job) -> str:
    return digest(
        "transcribe",
        fingerprint(job.folder / store.EPISODE_FILE),
        _settings(job.config.asr),
    )


def step_transcribe(job: Job) -> Transcript:
    from pipeline.transcribe.step import transcribe_episode

    def compute() -> Transcript:
        assert job.episode is not None
        job.report.start("transcribe", f"{job.config.asr.backend} backend")
        with job.report.bar("transcription (audio seconds)", job.episode.duration) as update:
            return transcribe_episode(job.episode, job.folder, job.config, progress=update)

    return _step(
        job, "transcribe", transcribe_key(job), [store.TRANSCRIPT_FILE], compute, Transcript
    )


def turns_key(job: Job) -> str:
    return digest(
        "turns",
        fingerprint(job.folder / store.TRANSCRIPT_FILE),
        _settings(job.config.diarize, drop=("hf_token",)),
        _settings(job.config.turns),
        job.config.llm.model,
    )


def step_turns(job: Job, transcript: Transcript) -> Turns:
    from pipeline.turns.segment import build_turns

    path = job.folder / store.TURNS_FILE

    def compute() -> Turns:
        assert job.episode is not None
        job.report.start("turns", f"{job.config.diarize.backend} diarization, naming")
        turns = build_turns(job.episode, transcript, job.config, client=job.client())
        store.save(path, turns)
        return turns

    return _step(job, "turns", turns_key(job), [store.TURNS_FILE], compute, Turns)


def editorial_key(job: Job) -> str:
    return digest(
        "editorial",
        fingerprint(job.folder / store.TURNS_FILE),
        fingerprint(job.folder / store.EPISODE_FILE),
        _settings(job.config.editorial),
        _settings(job.config.post, drop=("template",)),
        job.config.llm.model,
        job.config.llm.temperature,
    )


def step_editorial(job: Job, turns: Turns) -> Post:
    """Analysis, then translation chunks (``[llm] max_concurrency`` at once). The editorial
    cache in ``editorial/`` keeps every finished chunk, so after a failure or a kill the
    step asks only for the chunks that did not finish."""
    from pipeline.editorial.build import RESULT_FILE, build_post

    path = job.folder / POST_FILE

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
                job.folder / "editorial",
                retry_failed=job.retry_failed,
                on_chunk=on_chunk,
            )
        result.save_summary(job.folder / RESULT_FILE)
        store.save(path, result.post)
        return result.post

    key = editorial_key(job)
    try:
        return _step(job, "editorial", key, [POST_FILE], compute, Post, force=job.retry_failed)
    finally:
        job.count_tokens()


def step_render(job: Job, post: Post) -> str:
    """Always redone: it is cheap, and the template or config may have changed."""
    from pipeline.post.render import load_template, render_post

    assert job.run is not None
    job.run.start_step("render")
    started = time.monotonic()
    text = render_post(post, load_template(job.config.post.template))
    job.run.finish_step("render", digest("render", sha_text(text)), [], time.monotonic() - started)
    return text


def sha_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the Prefect wrapping -------------------------------------------------------------------


def _transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a task only when it failed on a retryable error."""
    return bool(getattr(state.data, "retryable", False))


def _task(name: str, fn: Callable[..., T]) -> Any:
    return task(
        name=name,
        retries=TASK_RETRIES,
        retry_delay_seconds=RETRY_DELAYS,
        retry_condition_fn=_transient,
        cache_policy=NO_CACHE,  # the episode folder is the cache (see the module docstring)
        persist_result=False,
        log_prints=False,
    )(fn)


fetch_task = _task("fetch", step_fetch)
transcribe_task = _task("transcribe", step_transcribe)
turns_task = _task("turns", step_turns)
editorial_task = _task("editorial", step_editorial)
render_task = _task("render", step_render)


# --- the run ------------------------------------------------------------------------------


@dataclass
class EpisodeResult:
    episode_id: str
    title: str
    draft: DraftWrite
    tokens: int
    skipped: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "title": self.title,
            "draft": str(self.draft.path),
            "kept": str(self.draft.kept) if self.draft.kept else None,
            "tokens": self.tokens,
            "skipped": self.skipped,
        }


def artifact_key(kind: str, episode_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"{kind}-" + re.sub(r"[^a-z0-9-]+", "-", episode_id.lower()).strip("-")


def _artifacts(job: Job, written: DraftWrite, text: str) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from pipeline.review import flags as review

    assert job.episode is not None
    flags = review.review_draft(written.path, episodes_dir=job.config.episodes_dir).flags
    create_markdown_artifact(
        markdown=text,
        key=artifact_key("draft", job.episode.id),
        description=f"Draft of {job.episode.title or job.episode.id}: {written.path}",
    )
    create_table_artifact(
        table=review.flags_table(flags)
        or [{"severity": "", "kind": "none", "turn": "", "message": "no review flags"}],
        key=artifact_key("review-flags", job.episode.id),
        description=f"Review flags of {written.path}",
    )


def run_episode(
    source: str,
    config: Config,
    *,
    item: str | None = None,
    overrides: dict[str, Any] | None = None,
    wait: bool = False,
    retry_failed: bool = False,
    report: Reporter | None = None,
    direct: bool = False,
) -> EpisodeResult:
    """Run every step for one episode. ``direct=True`` calls the steps without Prefect
    (what ``bench/flow.py`` compares against); otherwise this must run inside a flow."""
    job = Job(
        config=config,
        report=report or Reporter(),
        source=source,
        item=item,
        retry_failed=retry_failed,
    )
    call = (lambda t: t.fn) if direct else (lambda t: t)
    try:
        job.episode = call(fetch_task)(job)
    except Exception as e:  # no episode folder yet: the ledger keeps the failure for status
        Ledger.of(config).record_fetch_failure(
            source_key(source, item), source, item, overrides or {}, _message(e)
        )
        raise
    folder = job.folder
    with episode_lock(folder, job.episode.id, wait=wait):
        run = job.run = EpisodeRun(folder, job.episode.id, source)
        run.state.item = item
        if overrides is not None:
            run.state.overrides = overrides
        run.state.title = job.episode.title
        run.begin(flow_run_id=None if direct else _flow_run_id())
        if "fetch" not in job.skipped:
            run.finish_step("fetch", fetch_key(job), _fetch_outputs(job.episode), 0.0)
        try:
            transcript = call(transcribe_task)(job)
            turns = call(turns_task)(job, transcript)
            post = call(editorial_task)(job, turns)
            text = call(render_task)(job, post)
            written = write_draft(config.drafts_path, job.episode.id, text, episode_dir=folder)
        except BaseException as e:
            job.count_tokens()
            run.state.tokens += job.tokens
            run.fail(run.state.step, _message(e))
            raise
        run.state.tokens += job.tokens
        run.update(draft_path=str(written.path), draft_note=written.message, title=post.front.title)
        run.done()
    job.report.line(written.message)
    if not direct:
        _artifacts(job, written, text)
    return EpisodeResult(job.episode.id, post.front.title, written, job.tokens, job.skipped)


def _message(e: BaseException) -> str:
    return e.one_line() if isinstance(e, PodpostError) else f"{type(e).__name__}: {e}"


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    value = flow_run.id
    return str(value) if value else None


def flow_config(overrides: dict[str, Any] | None, config_path: str | None) -> Config:
    """A flow is an entry point (a worker runs it with no CLI around): it builds the Config
    the same way the CLI does, from the environment plus the run's overrides."""
    return load_config(
        Path(config_path) if config_path else None, env=os.environ, overrides=overrides or {}
    )


@flow(name="episode", persist_result=False, log_prints=False)
def episode_flow(
    source: str,
    item: str | None = None,
    overrides: dict[str, Any] | None = None,
    config_path: str | None = None,
    wait: bool = False,
    retry_failed: bool = False,
) -> dict[str, Any]:
    """One episode end to end. ``overrides`` are config values (what the CLI flags set);
    secrets stay in the environment or the config file, never in Prefect's database.
    ``retry_failed`` redoes the editorial step asking only for failed translations."""
    config = flow_config(overrides, config_path)
    return run_episode(
        source, config, item=item, overrides=overrides, wait=wait, retry_failed=retry_failed
    ).as_dict()


def rerender(folder: Path, config: Config) -> DraftWrite:
    """`podpost render`: the draft again from the stored editorial result; no ASR, no LLM."""
    from pipeline.post.render import load_template, render_post

    folder = Path(folder)
    post = store.load(folder / POST_FILE, Post)
    episode = store.load(folder / store.EPISODE_FILE, Episode)
    with episode_lock(folder, episode.id):
        text = render_post(post, load_template(config.post.template))
        written = write_draft(config.drafts_path, episode.id, text, episode_dir=folder)
        run = EpisodeRun(folder, episode.id)
        run.update(draft_path=str(written.path), draft_note=written.message)
    return written
