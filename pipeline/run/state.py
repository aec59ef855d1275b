"""Per-episode run state, step freshness and the per-episode lock.

The episode folder is the source of truth for what finished: each step's own files
(``episode.json``, ``transcript.json``, ...) plus ``run.json`` (a :class:`RunState`), which
records for every finished step the *key* of what it was computed from (a hash of its
inputs' contents and the settings that matter) and fingerprints of the files it wrote. A
rerun skips a step when its key is unchanged and its files are still the ones it wrote;
anything else (a changed setting, a deleted or edited file) redoes the step and what
follows. Keys never include a run id, so they hold across processes, machines and Prefect
runs.

``run.json`` also answers ``podpost status`` (:mod:`pipeline.run.status`): state, the last
step finished, the error, the draft, tokens used, turns whose translation failed. The state
is ``pending`` after a step command (more steps to go), ``running``, ``done`` or
``failed``. The lock tells a live run from a killed one: the kernel drops an ``flock`` when
its process dies, however it dies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import store
from pipeline.errors import DraftConflictError, PodpostError
from pipeline.faults import one_line
from pipeline.fsutil import write_atomic

STEPS = ("fetch", "transcribe", "turns", "editorial", "render")
RUN_FILE = store.RUN_FILE
LOCK_FILE = store.LOCK_FILE
# review-speakers: stopped after the turns step for the editor (`run --until turns`)
State = Literal["pending", "running", "done", "failed", "review-speakers"]

# Files above this size (audio) are fingerprinted by size and mtime, not hashed: hashing a
# three-hour episode on every rerun would cost more than the check is worth.
_HASH_LIMIT = 32 * 1024 * 1024


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StepDone(_Model):
    """A finished step: the ``key`` it was computed from, when (ISO 8601, UTC), how long
    (seconds), and ``{file name: fingerprint}`` of the files it wrote."""

    key: str
    finished_at: str
    seconds: float = 0.0
    outputs: dict[str, str] = Field(default_factory=dict)  # file name -> fingerprint


class RunState(_Model):
    """The contents of ``run.json``: where the episode's run stands (see the module docstring)."""

    episode_id: str
    source: str = ""
    item: str | None = None  # the feed item, when the source is a feed
    overrides: dict[str, Any] = Field(default_factory=dict)  # the run's flags, for resume
    title: str = ""
    state: State = "pending"
    step: str | None = None  # the step running now, or the one that failed
    error: str | None = None
    draft_path: str | None = None  # the episode's draft: the one a person reviews
    draft_note: str | None = None  # e.g. "written beside an edited draft"
    # A newer version a rerun wrote beside a draft a person edited or approved
    # (``<id>.new.md``): proposed, never put in the draft's place.
    proposal_path: str | None = None
    tokens: int = 0
    failed_turns: int = 0  # turns the editorial step could not translate
    pid: int | None = None
    host: str | None = None
    flow_run_id: str | None = None
    started_at: str | None = None
    updated_at: str | None = None
    steps: dict[str, StepDone] = Field(default_factory=dict)

    @property
    def last_step(self) -> str | None:
        """The latest step, in pipeline order, that finished and is still valid."""
        done = [name for name in STEPS if name in self.steps]
        return done[-1] if done else None


def now_iso() -> str:
    """The current UTC time as ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- keys and fingerprints ----------------------------------------------------------------


def digest(*parts: Any) -> str:
    """A stable short hash of JSON-able parts (settings, upstream keys, file fingerprints)."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def fingerprint(path: Path) -> str | None:
    """sha256 of a file's content (size and mtime for big files); None when missing."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    if stat.st_size > _HASH_LIMIT:
        return f"size:{stat.st_size}:mtime:{stat.st_mtime_ns}"
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def fingerprints(folder: Path, names: list[str]) -> dict[str, str]:
    """``{name: fingerprint}`` of the files in ``folder`` that exist."""
    out: dict[str, str] = {}
    for name in names:
        value = fingerprint(folder / name)
        if value is not None:
            out[name] = value
    return out


# --- reading and writing run.json ---------------------------------------------------------


def run_file(folder: Path) -> Path:
    """``<folder>/run.json``."""
    return Path(folder) / RUN_FILE


def message(e: BaseException) -> str:
    """The one line a failed run keeps in ``run.json`` for ``podpost status``."""
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (Ctrl-C); `podpost resume` finishes it"
    return one_line(e)  # the same line the CLI prints, never a multi-line str(e)


def keep_record(warn: Callable[[str], None], record: Callable[..., None], *args: Any) -> None:
    """``record(*args)``: keep a failure for ``podpost status`` (``run.json``, the ledger).
    A record that cannot be written (a full disk, a ledger SQLite cannot use) is passed to
    ``warn``, never raised: the error that failed the run is the one to fix, and the caller
    raises it as it is instead of the record's."""
    try:
        record(*args)
    except (PodpostError, OSError) as second:
        warn(f"the failure could not be recorded: {one_line(second)}")


def load_state(folder: Path) -> RunState | None:
    """The folder's run state, or None when it has none (or a damaged one)."""
    try:
        return RunState.model_validate_json(run_file(folder).read_bytes())
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError):
        return None  # a hand-damaged run.json means "nothing known": steps recheck their files


def recorded_overrides(folder: Path) -> dict[str, Any]:
    """The settings the episode in ``folder`` was made with (its run's flags and the step
    commands'), as config values, without ``data_dir``; ``{}`` without run state."""
    state = load_state(folder)
    if state is None:
        return {}
    # where the data lives is not how the episode was made: it was found where it is now
    return {k: v for k, v in state.overrides.items() if k != "data_dir"}


def save_state(folder: Path, state: RunState) -> None:
    """Write ``run.json`` atomically, stamping ``updated_at``."""
    state.updated_at = now_iso()
    write_atomic(run_file(folder), state.model_dump_json(indent=2))


def is_fresh(folder: Path, state: RunState | None, step: str, key: str) -> bool:
    """True when ``step`` finished with this key and its files are as it left them."""
    if state is None or step not in state.steps:
        return False
    done = state.steps[step]
    if done.key != key:
        return False
    return all(fingerprint(Path(folder) / name) == value for name, value in done.outputs.items())


# --- the lock -------------------------------------------------------------------------------


def is_locked(folder: Path) -> bool:
    """True while some process holds the episode's lock (i.e. a run is alive)."""
    path = Path(folder) / LOCK_FILE
    if not path.exists():
        return False
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


@contextmanager
def episode_lock(folder: Path, episode_id: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the episode's lock for a whole run, so two runs never both write.

    ``wait=False`` refuses at once with who holds it; ``wait=True`` blocks until it is free.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_FILE, thread_local=False)
    try:
        # Half a second of grace even without --wait: `podpost status` takes the lock for an
        # instant to tell a live run from a killed one, and must not make a run refuse.
        lock.acquire(timeout=-1 if wait else 0.5)
    except Timeout:
        holder = load_state(folder)
        who = ""
        if holder and holder.pid:
            who = f" by process {holder.pid}"
            if holder.host:
                who += f" on {holder.host}"
            if holder.started_at:
                who += f" since {holder.started_at}"
        raise DraftConflictError(
            f"episode {episode_id} is already being processed{who}",
            hint="wait for that run to finish, or rerun with --wait to queue behind it",
        ) from None
    try:
        yield
    finally:
        lock.release()


# --- the run's life -------------------------------------------------------------------------


class EpisodeRun:
    """The flow's handle on ``run.json``: every state change is written at once."""

    def __init__(self, folder: Path, episode_id: str, source: str = "") -> None:
        self.folder = Path(folder)
        self.state = load_state(self.folder) or RunState(episode_id=episode_id)
        self.state.episode_id = episode_id
        if source:
            self.state.source = source

    def begin(self, *, flow_run_id: str | None = None) -> None:
        """Mark the run ``running`` in this process (pid, host, start time), clearing any error."""
        s = self.state
        s.state, s.step, s.error = "running", None, None
        s.pid, s.host, s.flow_run_id = os.getpid(), socket.gethostname(), flow_run_id
        s.started_at = now_iso()
        save_state(self.folder, s)

    def fresh(self, step: str, key: str) -> bool:
        """True when ``step`` finished with ``key`` and its files are as it left them."""
        return is_fresh(self.folder, self.state, step, key)

    def start_step(self, step: str) -> None:
        """Record ``step`` as the one running now."""
        self.state.step = step
        save_state(self.folder, self.state)

    def finish_step(self, step: str, key: str, outputs: list[str], seconds: float) -> None:
        """Record ``step`` as finished with ``key`` and the fingerprints of ``outputs``.

        Later steps' keys include this step's output fingerprints, so a changed result
        makes them recompute anyway; their records are dropped too, so that ``status``
        does not report a later step as finished on top of a redone earlier one.
        """
        done = StepDone(
            key=key,
            finished_at=now_iso(),
            seconds=round(seconds, 3),
            outputs=fingerprints(self.folder, outputs),
        )
        before = self.state.steps.get(step)
        if before is None or before.outputs != done.outputs:
            for later in STEPS[STEPS.index(step) + 1 :] if step in STEPS else ():
                self.state.steps.pop(later, None)
        self.state.steps[step] = done
        save_state(self.folder, self.state)

    def update(self, **fields: Any) -> None:
        """Set the named :class:`RunState` fields and write ``run.json``."""
        for name, value in fields.items():
            setattr(self.state, name, value)
        save_state(self.folder, self.state)

    def fail(self, step: str | None, error: str) -> None:
        """Mark the run ``failed`` with the one-line ``error``, at ``step`` when given."""
        s = self.state
        s.state, s.error, s.pid = "failed", error, None
        if step:
            s.step = step
        save_state(self.folder, s)

    def pause(self) -> None:
        """A step command finished: the episode waits for its next step (``pending``)."""
        s = self.state
        s.state, s.step, s.error, s.pid = "pending", None, None, None
        save_state(self.folder, s)

    def await_speakers(self) -> None:
        """The run stopped after the turns step: its speakers draft waits for the editor,
        and ``podpost resume`` translates once they are confirmed."""
        s = self.state
        s.state, s.step, s.error, s.pid = "review-speakers", None, None, None
        save_state(self.folder, s)

    def done(self) -> None:
        """Mark the run ``done``: every step finished."""
        s = self.state
        s.state, s.step, s.error, s.pid = "done", None, None, None
        save_state(self.folder, s)


def add_tokens(folder: Path, tokens: int) -> None:
    """Count ``tokens`` spent on the episode outside a run (a re-ask from the preview) in its
    run.json, so ``podpost status`` shows everything the episode cost. No run.json: no-op."""
    state = load_state(folder)
    if state is not None and tokens:
        state.tokens += tokens
        save_state(folder, state)
