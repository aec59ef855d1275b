"""One episode end to end: fetch -> transcribe -> turns -> editorial -> render -> draft.

:func:`run_episode` is the whole run as a library call; the Prefect flow (``flows.episode``)
wraps each step in a task and passes the wrapped steps in ``tasks``, and
``bench/flow.py`` calls it with the plain steps. The episode folder is the source of truth
for what finished (:mod:`pipeline.run.steps`), not Prefect's result store, so a finished
step is skipped across processes, machines, a SIGKILL, and a lost Prefect database.

A run holds the episode's lock from the moment the episode id is known until the draft is
written, so two runs of one episode never both write. The draft never overwrites a human
edit (:mod:`pipeline.review.drafts`). A draft with turns that failed to translate is
written, but the run is not a success: :func:`pipeline.run.status.check_complete` raises
:class:`~pipeline.errors.NeedsReviewError` (exit 8) for the doors to report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline import store
from pipeline.config import Config, Until, deep_merge, episode_settings, with_overrides
from pipeline.db import StateDB, open_state
from pipeline.errors import ConfigError, InputFileError, UsageError
from pipeline.fetch.local import local_episode_id, local_source
from pipeline.langtags import language_name
from pipeline.models import Episode, Post, Turns
from pipeline.post.render import load_template, render_post
from pipeline.review import flags as review
from pipeline.review import speakers
from pipeline.review.drafts import DraftWrite, Stage, draft_name, write_draft
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter
from pipeline.run.state import (
    EpisodeRun,
    draft_file,
    keep_record,
    load_state,
    lock_episode,
    lock_source,
    message,
    recorded_overrides,
)
from pipeline.run.steps import (
    STEPS,
    Job,
    failed_turns,
    fetch_key,
    fetch_outputs,
    known_episode,
    render_key,
    source_key,
    turns_key,
)


@dataclass
class EpisodeResult:
    """What a run made: the draft (``draft.path``), its text, and what it cost."""

    episode_id: str
    title: str
    draft: DraftWrite
    tokens: int
    skipped: list[str]
    failed_turns: int = 0
    text: str = field(default="", repr=False)
    stage: str = "post"  # "turns": the run stopped at a speakers draft (``until="turns"``)
    failed_numbers: list[int] = field(default_factory=list)  # 1-based, as review numbers
    stopped: str = ""  # why the editorial step stopped asking the model (its breaker)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: what a flow returns and ``podpost`` prints from."""
        return {
            "episode_id": self.episode_id,
            "title": self.title,
            "draft": str(self.draft.path),
            "kept": str(self.draft.kept) if self.draft.kept else None,
            "tokens": self.tokens,
            "skipped": self.skipped,
            "failed_turns": self.failed_turns,
            "stage": self.stage,
            "failed_numbers": self.failed_numbers,
            "stopped": self.stopped,
        }


def run_episode(
    source: str,
    config: Config,
    *,
    item: str | None = None,
    overrides: dict[str, Any] | None = None,
    wait: bool = False,
    retry_failed: bool = False,
    report: Reporter | None = None,
    tasks: Mapping[str, Callable[..., Any]] | None = None,
    flow_run_id: str | None = None,
    until: Until | None = None,
    episode_id: str | None = None,
    wrap_llm: Callable[[Any], Any] | None = None,
) -> EpisodeResult:
    """Run every step for one episode and write its draft.

    ``tasks`` maps each step name of :data:`pipeline.run.steps.STEPS` to a callable with
    the step's signature (a Prefect task, say); default: the plain steps. ``overrides``
    (config values: the flags given, which ``config`` holds) are laid over the overrides
    the episode's ``run.json`` recorded, if it has one, so a rerun keeps the settings the
    episode was made with (``config`` is rebuilt with them) and changes only what was
    given; the merge is recorded for ``podpost resume``. ``overrides=None`` leaves
    ``config`` and the record as they are. ``until="turns"`` (default: ``[run] until``)
    stops after the turns step with a speakers draft for the editor
    (:mod:`pipeline.review.speakers`); whatever the editor changed in it becomes the
    turns before anything is translated. ``wrap_llm`` wraps the LLM client when it is
    made (:attr:`pipeline.run.steps.Job.wrap_llm`). Raises the step's error (recorded in
    ``run.json``, or in the ledger when the fetch itself failed, unless the source was bad
    input) and :class:`~pipeline.errors.DraftConflictError` when another run holds the
    episode.
    """
    call = {**STEPS, **(tasks or {})}
    job = Job(
        config=config,
        report=report or Reporter(),
        source=source,
        item=item,
        episode_id=episode_id,
        retry_failed=retry_failed,
        wrap_llm=wrap_llm,
    )
    key = fetch_key(source, item)  # before fetching: a file changed meanwhile is fetched again
    # `podpost resume EPISODE` of a local file that now holds another recording: refused
    # before anything is fetched, so no other episode is made or written. A file whose
    # fetch is still fresh (its fingerprint: size and mtime for big files) is the episode
    # it was; only a changed one is hashed whole to learn which episode it is now.
    local = local_source(source) if episode_id is not None else None
    if local is not None and local.is_file():
        known = known_episode(config, source, item, episode_id)
        now = known.name if known is not None else local_episode_id(local)
        if now != episode_id:
            raise _not_that_episode(source, str(episode_id), now)
    db = open_state(config)
    # The source's lease is taken before fetching, so two workers given one source make
    # one download: the second is refused (or, with wait, finds the fetch done).
    known_id = Ledger.of(config).episode_for(source_key(source, item))
    what = f"episode {known_id}" if known_id else f"source {source}"
    with lock_source(config, source_key(source, item), what, wait=wait):
        try:
            job.episode = call["fetch"](job)
        except Exception as e:  # no episode folder yet: the ledger keeps the failure for status
            keep_record(
                job.report.warn, keep_fetch_failure, config, source, item, overrides or {}, e
            )
            raise
        if episode_id is not None and job.episode.id != episode_id:
            raise _not_that_episode(source, episode_id, job.episode.id)
        return _locked_run(
            job, call, db, key, overrides, wait=wait, until=until, flow_run_id=flow_run_id
        )


def _locked_run(
    job: Job,
    call: Mapping[str, Callable[..., Any]],
    db: Any,
    key: str,
    overrides: dict[str, Any] | None,
    *,
    wait: bool,
    until: Until | None,
    flow_run_id: str | None,
) -> EpisodeResult:
    """The steps after fetch, under the episode's lease (see :func:`run_episode`)."""
    assert job.episode is not None
    config, source, item = job.config, job.source, job.item
    folder = job.folder
    storage = job.storage()
    with lock_episode(config, job.episode.id, wait=wait):
        if "fetch" not in job.skipped:  # what another machine finished of this episode
            storage.pull_episode(job.episode.id, keep=fetch_outputs(job.episode))
        if overrides is not None:
            # a rerun starts from the settings the episode was made with, this run's flags
            # on top: a step is redone only when a setting it depends on changed
            overrides = deep_merge(recorded_overrides(db, job.episode.id), overrides)
            job.config = config = with_overrides(config, overrides)
        run = job.run = EpisodeRun(db, folder, job.episode.id, source)
        run.state.item = item
        if overrides is not None:
            run.state.overrides = episode_settings(overrides)
        run.state.title = job.episode.title
        run.begin(flow_run_id=flow_run_id)
        if "fetch" not in job.skipped:
            run.finish_step("fetch", key, fetch_outputs(job.episode), 0.0)
        job.save_progress()
        try:
            transcript = call["transcribe"](job)
            turns = call["turns"](job, transcript)
            if (until or config.run.until) == "turns":
                written, text = _speakers_draft(job, turns)
                job.count_tokens()  # the naming request
                run.state.tokens += job.tokens
                run.update(
                    **draft_fields(written, storage), title=job.episode.title, failed_turns=0
                )
                run.await_speakers()
                job.save_progress()
                job.report.line(written.message)
                job.report.line(
                    f"speakers ready for review: `podpost preview {written.path}`, then "
                    f"`podpost resume {job.episode.id}` translates with them"
                )
                return EpisodeResult(
                    job.episode.id, job.episode.title, written, job.tokens, job.skipped,
                    text=text, stage="turns",
                )  # fmt: skip
            turns = _confirmed_turns(job, turns)
            post = call["editorial"](job, turns)
            text = call["render"](job, post)
            written = _write_draft(job, text)
        except BaseException as e:
            job.count_tokens()
            run.state.tokens += job.tokens
            keep_record(job.report.warn, run.fail, run.state.step, message(e))
            keep_record(job.report.warn, job.save_progress)
            raise
        run.state.tokens += job.tokens
        run.update(
            **draft_fields(written, storage), title=post.front.title, failed_turns=job.failed_turns
        )
        run.done()
        job.save_progress()
    job.report.line(written.message)
    return EpisodeResult(
        job.episode.id,
        post.front.title,
        written,
        job.tokens,
        job.skipped,
        failed_turns=job.failed_turns,
        text=text,
        failed_numbers=job.failed_numbers,
        stopped=job.stopped,
    )


def _stage(db: StateDB, draft: Path) -> str | None:
    record = review.load_record(db, draft)
    return record.stage if record is not None else None


def _not_that_episode(source: str, episode_id: str, now: str) -> InputFileError:
    return InputFileError(
        f"{source} is no longer what episode {episode_id} was made from (it is episode {now} "
        f"now), so {episode_id} was not resumed",
        hint=f"`podpost run {source}` makes the new recording an episode of its own",
    )


def _speakers_draft(job: Job, turns: Turns) -> tuple[DraftWrite, str]:
    """Write the turns as the episode's speakers draft (never over a person's edits)."""
    assert job.episode is not None
    language = language_name(turns.language or job.episode.language or "en")
    post = speakers.speakers_post(job.episode, turns, language)
    text = render_post(post, load_template(job.config.post.template))
    return _write_draft(job, text, stage=speakers.STAGE), text


def _write_draft(job: Job, text: str, *, stage: Stage = "post") -> DraftWrite:
    """Write the episode's draft (never over a person's edits, also one made on another
    machine: the stored draft is pulled first, its record is in the state database) and
    upload it."""
    assert job.episode is not None
    storage = job.storage()
    storage.pull_drafts(job.episode.id)
    written = write_draft(
        job.config.drafts_path,
        job.episode.id,
        text,
        # the record finds the episode by id under episodes/ on any machine; a path only
        # where the data folder is the storage
        episode_dir=None if storage.remote else job.folder,
        db=open_state(job.config),
        stage=stage,
    )
    storage.push_draft(written.path)
    return written


def _confirmed_turns(job: Job, turns: Turns) -> Turns:
    """The turns as the editor confirmed them in the episode's speakers draft, when it
    has one: saved as ``turns.json`` and recorded as the turns step's result, so that
    a later run keeps them."""
    assert job.episode is not None and job.run is not None
    # the episode's draft, or beside its translated draft (a rerun `--until turns`)
    places = [job.config.drafts_path / draft_name(job.episode.id)]
    if (proposal := draft_file(job.config, job.run.state.proposal_path)) is not None:
        places.append(proposal)
    db = open_state(job.config)
    found = [p for p in places if p.is_file() and _stage(db, p) == speakers.STAGE]
    if not found:
        return turns
    draft = found[0]
    confirmed = speakers.confirmed_turns(
        review.review_draft(draft, db=db, episodes_dir=job.config.episodes_dir)
    )
    if confirmed != turns:
        store.save(job.folder / store.TURNS_FILE, confirmed)
        job.run.finish_step("turns", turns_key(job.config, job.folder), [store.TURNS_FILE], 0.0)
        job.save_progress()
        job.report.line(f"turns as confirmed in {draft}")
    return confirmed


def keep_fetch_failure(
    config: Config, source: str, item: str | None, overrides: dict[str, Any], e: BaseException
) -> None:
    """Keep a failed fetch in the ledger for ``podpost status`` and ``resume --all``, unless
    the source was bad input (a path with no file, a string that is no source): that never
    became an episode, is said in one line, and is not a run to resume. Such input also
    drops an older failure of the same source (a file since deleted)."""
    ledger = Ledger.of(config)
    key = source_key(source, item)
    if isinstance(e, UsageError) and not isinstance(e, ConfigError):
        ledger.clear_fetch_failure(key)
    else:
        ledger.record_fetch_failure(key, source, item, overrides, message(e))


def draft_fields(written: DraftWrite, storage: store.Store) -> dict[str, Any]:
    """The run.json fields for a draft just written: the episode's draft stays the one a
    person edited or approved, and text written beside it is its proposal. Each is kept
    as its key in the storage (``drafts/<id>.md``), the same on every machine, and so is
    the note."""
    note = replace(
        written,
        path=Path(storage.name_of(written.path)),
        kept=Path(storage.name_of(written.kept)) if written.kept is not None else None,
    ).message
    if written.kept is not None:
        return {
            "draft_path": storage.name_of(written.kept),
            "proposal_path": storage.name_of(written.path),
            "draft_note": note,
        }
    return {
        "draft_path": storage.name_of(written.path),
        "proposal_path": None,
        "draft_note": note,
    }


def review_rows(config: Config, draft: Path) -> list[dict[str, object]]:
    """The draft's review flags as table rows (one "no review flags" row when clean)."""
    flags = review.review_draft(
        draft, db=open_state(config), episodes_dir=config.episodes_dir
    ).flags
    return review.flags_table(flags) or [
        {"severity": "", "kind": "none", "turn": "", "message": "no review flags"}
    ]


def rerender(configure: Callable[..., Config], ref: str | Path) -> DraftWrite:
    """`podpost render`: the draft again from the stored editorial result; no ASR, no LLM.

    ``ref`` is an episode id or folder; ``configure(**overrides)`` builds the Config with
    the overrides the episode's run started with. Records the render step in ``run.json``.
    """
    folder = store.find_episode(configure(), ref, needs=(store.EPISODE_FILE, store.POST_FILE))
    episode = store.load(folder / store.EPISODE_FILE, Episode)
    db = open_state(configure())
    state = load_state(db, episode.id)
    config = configure(**state.overrides) if state is not None else configure()
    post = store.load(folder / store.POST_FILE, Post)
    storage = store.Store.of(config)
    with lock_episode(config, episode.id):
        run = EpisodeRun(db, folder, episode.id)
        text = render_post(post, load_template(config.post.template))
        storage.pull_drafts(episode.id)
        written = write_draft(
            config.drafts_path,
            episode.id,
            text,
            episode_dir=None if storage.remote else folder,
            db=db,
        )
        storage.push_draft(written.path)
        run.finish_step("render", render_key(text), [], 0.0)
        run.update(
            **draft_fields(written, storage),
            title=run.state.title or post.front.title,
            failed_turns=failed_turns(folder),
        )
        if "editorial" in run.state.steps and run.state.state != "running":
            run.done()
        storage.push_episode(episode.id)
    return written
