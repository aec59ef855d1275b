"""Per-episode run records, step freshness and the per-episode lock.

What finished lives in the state database (:mod:`pipeline.db`, table ``runs``): one
:class:`RunState` per episode (what ``run.json`` held before), which records for every
finished step the *key* of what it was computed from (a hash of its inputs' contents and
the settings that matter) and fingerprints of the files it wrote. A rerun skips a step
when its key is unchanged and its files are still the ones it wrote; anything else (a
changed setting, a deleted or edited file) redoes the step and what follows. Keys never
include a run id, so they hold across processes, machines and Prefect runs. Drafts are
recorded as storage keys (``drafts/<id>.md``), never a machine's absolute path.

The record also answers ``podpost status`` (:mod:`pipeline.run.status`): state, the last
step finished, the error, the draft, tokens used, turns whose translation failed. The state
is ``pending`` after a step command (more steps to go), ``running``, ``done`` or
``failed``. The lock is a lease in the same database (:mod:`pipeline.db.lease`): its
holder renews it while alive, so a killed run's lock expires (at once when it ran on the
same machine) and another worker takes the episode over; a run whose record says
``running`` with nobody holding the lease was interrupted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import store
from pipeline.config import Config
from pipeline.db import StateDB, lease, legacy, open_state, schema
from pipeline.errors import DraftConflictError, PodpostError
from pipeline.faults import one_line

STEPS = ("fetch", "transcribe", "turns", "editorial", "render")
_log = logging.getLogger(__name__)
RUN_FILE = store.RUN_FILE  # where releases before the state database kept the record
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
    draft_path: str | None = None  # the draft's storage key (drafts/<id>.md) a person reviews
    draft_note: str | None = None  # e.g. "written beside an edited draft"
    # A newer version a rerun wrote beside a draft a person edited or approved
    # (``<id>.new.md``, a storage key): proposed, never put in the draft's place.
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


# --- reading and writing run records -------------------------------------------------------


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


def load_state(db: StateDB, episode_id: str) -> RunState | None:
    """The episode's run record, or None when it has none (or a damaged one)."""
    with db.begin() as conn:
        record = conn.execute(
            sa.select(schema.runs.c.record).where(schema.runs.c.episode_id == episode_id)
        ).scalar_one_or_none()
    if record is None:
        return None
    try:
        return RunState.model_validate_json(record)
    except (ValidationError, ValueError):
        return None  # a damaged record means "nothing known": steps recheck their files


def run_records(db: StateDB) -> list[RunState]:
    """Every episode's run record (damaged ones left out), by episode id."""
    with db.begin() as conn:
        rows = conn.execute(
            sa.select(schema.runs.c.record).order_by(schema.runs.c.episode_id)
        ).scalars()
        out = []
        for record in rows:
            try:
                out.append(RunState.model_validate_json(record))
            except (ValidationError, ValueError):
                continue
    return out


def recorded_overrides(db: StateDB, episode_id: str) -> dict[str, Any]:
    """The settings the episode was made with (its run's flags and the step commands'), as
    config values, without ``data_dir``; ``{}`` without a run record."""
    state = load_state(db, episode_id)
    if state is None:
        return {}
    # where the data lives is not how the episode was made: it was found where it is now
    return {k: v for k, v in state.overrides.items() if k != "data_dir"}


def save_state(db: StateDB, state: RunState) -> None:
    """Write the episode's run record (one upsert), stamping ``updated_at``."""
    state.updated_at = now_iso()
    values = {
        "episode_id": state.episode_id,
        "state": state.state,
        "step": state.step,
        "title": state.title,
        "updated_at": state.updated_at,
        "record": state.model_dump_json(),
    }
    stmt = db.insert(schema.runs).values(**values)
    with db.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[schema.runs.c.episode_id],
                set_={k: stmt.excluded[k] for k in values if k != "episode_id"},
            )
        )


def is_fresh(folder: Path, state: RunState | None, step: str, key: str) -> bool:
    """True when ``step`` finished with this key and its files are as it left them."""
    if state is None or step not in state.steps:
        return False
    done = state.steps[step]
    if done.key != key:
        return False
    return all(fingerprint(Path(folder) / name) == value for name, value in done.outputs.items())


def draft_key(config: Config, path: str | Path) -> str:
    """The storage key a run record keeps for a draft at ``path``: ``drafts/<name>.md``
    (relative to the drafts folder), never this machine's absolute path."""
    return legacy.draft_key(path, config.drafts_path) or ""


def draft_file(config: Config, key: str | None) -> Path | None:
    """The local path of a draft's storage key (``drafts/<name>.md`` is in ``config``'s
    drafts folder); a path a record of an older release kept is returned as it is."""
    if not key:
        return None
    head, _, rest = key.partition("/")
    if head == legacy.DRAFTS_KEY and rest and not Path(key).is_absolute():
        return config.drafts_path / rest
    return Path(key)


# --- the lock -------------------------------------------------------------------------------


def lock_name(episode_id: str) -> str:
    """The lease an episode's run holds: ``episode:<id>``."""
    return f"episode:{episode_id}"


def source_lock_name(key: str) -> str:
    """The lease a fetch of a source holds before its episode id is known:
    ``source:<hash of the ledger's source key>``."""
    return "source:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def is_locked(db: StateDB, episode_id: str) -> bool:
    """True while some live run holds the episode's lease."""
    return lease.holder_of(db, lock_name(episode_id)) is not None


def _who(holder: lease.Holder | None) -> str:
    info = holder.info if holder else {}
    who = ""
    if info.get("pid"):
        who = f" by process {info['pid']}"
        if info.get("host"):
            who += f" on {info['host']}"
        if info.get("since"):
            who += f" since {info['since']}"
    return who


@contextmanager
def hold_lease(
    db: StateDB,
    name: str,
    what: str,
    *,
    wait: bool = False,
    ttl: float = lease.TTL,
    beat: float = lease.BEAT,
    poll: float = 0.5,
) -> Iterator[lease.Lease]:
    """Hold lease ``name`` for the block, renewed every ``beat`` seconds (``what`` names it
    in the refusal: "episode X", "source Y").

    ``wait=False`` refuses at once with :class:`DraftConflictError` naming the holder;
    ``wait=True`` polls every ``poll`` seconds until it is free (a dead holder's lease
    expires after ``ttl``).
    """
    holder = lease.new_holder()
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}
    while not lease.acquire(db, name, holder, ttl=ttl, info=info):
        if not wait:
            raise DraftConflictError(
                f"{what} is already being processed{_who(lease.holder_of(db, name))}",
                hint="wait for that run to finish, or rerun with --wait to queue behind it",
            )
        time.sleep(poll)

    def lost(_name: str) -> None:
        _log.warning(
            "%s: its lock expired and another run took it (this machine could not renew it "
            "for %.0f s); this run goes on, but the other may write the same files",
            what, ttl,
        )  # fmt: skip

    held = lease.Lease(db, name, holder, ttl=ttl, beat=beat, on_lost=lost)
    try:
        yield held
    finally:
        held.stop()


@contextmanager
def episode_lock(
    db: StateDB,
    episode_id: str,
    *,
    wait: bool = False,
    ttl: float = lease.TTL,
    beat: float = lease.BEAT,
) -> Iterator[None]:
    """Hold the episode's lease for a whole run, so two runs (on any machines) never both
    write; see :func:`hold_lease` for ``wait``, ``ttl`` and ``beat``."""
    with hold_lease(
        db, lock_name(episode_id), f"episode {episode_id}", wait=wait, ttl=ttl, beat=beat
    ):
        yield


def lock_episode(config: Config, episode_id: str, *, wait: bool = False) -> Any:
    """:func:`episode_lock` in ``config``'s state database with its ``[state]`` lease
    settings."""
    return episode_lock(
        open_state(config),
        episode_id,
        wait=wait,
        ttl=config.state.lease_ttl,
        beat=config.state.heartbeat,
    )


def lock_source(config: Config, key: str, what: str, *, wait: bool = False) -> Any:
    """Hold the lease of a source's fetch (``key``: the ledger's source key) in ``config``'s
    state database: taken before fetching, so two workers given one source download it
    once (the second waits, then finds the fetch done, or is refused naming ``what``: the
    episode the source became, when known)."""
    return hold_lease(
        open_state(config), source_lock_name(key), what, wait=wait,
        ttl=config.state.lease_ttl, beat=config.state.heartbeat,
    )  # fmt: skip


# --- the run's life -------------------------------------------------------------------------


class EpisodeRun:
    """The flow's handle on the episode's run record in ``db``: every state change is
    written at once. ``folder`` holds the files whose fingerprints the record keeps."""

    def __init__(self, db: StateDB, folder: Path, episode_id: str, source: str = "") -> None:
        self.db = db
        self.folder = Path(folder)
        self.state = load_state(db, episode_id) or RunState(episode_id=episode_id)
        self.state.episode_id = episode_id
        if source:
            self.state.source = source

    def begin(self, *, flow_run_id: str | None = None) -> None:
        """Mark the run ``running`` in this process (pid, host, start time), clearing any error."""
        s = self.state
        s.state, s.step, s.error = "running", None, None
        s.pid, s.host, s.flow_run_id = os.getpid(), socket.gethostname(), flow_run_id
        s.started_at = now_iso()
        save_state(self.db, s)

    def fresh(self, step: str, key: str) -> bool:
        """True when ``step`` finished with ``key`` and its files are as it left them."""
        return is_fresh(self.folder, self.state, step, key)

    def start_step(self, step: str) -> None:
        """Record ``step`` as the one running now."""
        self.state.step = step
        save_state(self.db, self.state)

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
        save_state(self.db, self.state)

    def update(self, **fields: Any) -> None:
        """Set the named :class:`RunState` fields and write the record."""
        for name, value in fields.items():
            setattr(self.state, name, value)
        save_state(self.db, self.state)

    def fail(self, step: str | None, error: str) -> None:
        """Mark the run ``failed`` with the one-line ``error``, at ``step`` when given."""
        s = self.state
        s.state, s.error, s.pid = "failed", error, None
        if step:
            s.step = step
        save_state(self.db, s)

    def pause(self) -> None:
        """A step command finished: the episode waits for its next step (``pending``)."""
        s = self.state
        s.state, s.step, s.error, s.pid = "pending", None, None, None
        save_state(self.db, s)

    def await_speakers(self) -> None:
        """The run stopped after the turns step: its speakers draft waits for the editor,
        and ``podpost resume`` translates once they are confirmed."""
        s = self.state
        s.state, s.step, s.error, s.pid = "review-speakers", None, None, None
        save_state(self.db, s)

    def done(self) -> None:
        """Mark the run ``done``: every step finished."""
        s = self.state
        s.state, s.step, s.error, s.pid = "done", None, None, None
        save_state(self.db, s)


def add_tokens(db: StateDB, episode_id: str, tokens: int) -> None:
    """Count ``tokens`` spent on the episode outside a run (a re-ask from the preview) in its
    run record, so ``podpost status`` shows everything the episode cost. No record: no-op."""
    state = load_state(db, episode_id)
    if state is not None and tokens:
        state.tokens += tokens
        save_state(db, state)
