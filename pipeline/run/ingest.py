"""Ingesting a feed: which items to run, and what each one came to.

The ledger (:mod:`pipeline.run.ledger`, SQLite in the data directory) says which items of a
feed are done, and which item holds each key: the feed is listed with the ledger's claims,
so an item keeps its key (and episode id) when items sharing its guid are added later.
:func:`plan_ingest` lists the feed and takes the items that are not done (new ones, and
ones that failed before), at most ``limit``; the door runs each through the
episode flow, and the episode run records its own end in the ledger (:func:`record_outcome`,
called by the episode flow when it is given its feed item), so the row is right whichever
machine ran it and whether or not the ingestion was still waiting. The ingestion records
a failure only for a run that never recorded its own end (it crashed, was cancelled, or
outlived the wait), and never over a ``done`` row. A failed item is retried by the next
ingestion; a done one is never redone. An item whose draft has turns
that failed to translate counts as ``needs-review``, as in ``podpost status``: it is done
(the next ingestion leaves it), and ``podpost resume --all --retry-failed`` finishes it.
An RSS item without an enclosure (a text-only notice: "we're on a break") has nothing to
transcribe: it counts as ``skipped``, is not run, and does not fail the ingestion.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Config
from pipeline.db import open_state
from pipeline.errors import IngestFailedError, SourceError
from pipeline.fetch.feeds import FeedItem, list_feed
from pipeline.run.ledger import Ledger
from pipeline.run.state import digest, draft_file, keep_record, load_state, message
from pipeline.run.steps import source_key

_log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """One feed item: ``state`` is new | needs-review | review-speakers (stopped at a
    speakers draft, ``[run] until = "turns"``) | failed | done-before | not-taken |
    skipped (no media to transcribe)."""

    guid: str
    title: str
    state: str
    draft: str | None = None
    error: str | None = None
    episode_id: str | None = None
    failed_turns: int = 0


@dataclass
class IngestSummary:
    """Every item of one ingestion, in feed order."""

    feed: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, state: str) -> int:
        """How many items ended in ``state``."""
        return sum(1 for o in self.outcomes if o.state == state)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: counts per state and every item (``podpost ingest --json``)."""
        return {
            "feed": self.feed,
            "new": self.count("new"),
            "needs_review": self.count("needs-review"),
            "review_speakers": self.count("review-speakers"),
            "failed": self.count("failed"),
            "done_before": self.count("done-before"),
            "skipped": self.count("skipped"),
            "items": [o.__dict__ for o in self.outcomes],
        }


def plan_ingest(
    feed: str, config: Config, *, limit: int | None = None, since: dt.date | None = None
) -> tuple[IngestSummary, list[FeedItem]]:
    """The summary so far (items done before, items over ``limit``) and the items to run.

    ``since`` drops items published before that day (items without a date stay).
    """
    ledger = Ledger.of(config)
    known = ledger.items(feed)
    items = list_feed(feed, config, claimed=ledger.claims(feed))
    for entry in items:  # rows from before enclosures were kept: the holder now claims its key
        row = known.get(entry.guid)
        if row is not None and row.enclosure is None and entry.enclosure:
            ledger.adopt_enclosure(feed, entry.guid, entry.enclosure)
    if since is not None:
        items = [i for i in items if i.date is None or i.date >= since]
    summary = IngestSummary(feed)
    todo: list[FeedItem] = []
    for entry in items:
        previous = known.get(entry.guid)
        if not entry.media:
            summary.outcomes.append(Outcome(entry.guid, entry.title, "skipped"))
        elif previous is not None and previous.state == "done":
            summary.outcomes.append(
                Outcome(
                    entry.guid,
                    entry.title,
                    "done-before",
                    draft=_draft_of(config, previous.episode_id),
                    episode_id=previous.episode_id,
                )
            )
        elif limit is not None and len(todo) >= limit:
            summary.outcomes.append(Outcome(entry.guid, entry.title, "not-taken"))
        else:
            todo.append(entry)
    return summary, todo


def _record_failure(
    config: Config,
    feed: str,
    entry: FeedItem,
    line: str,
    overrides: dict[str, Any],
    attempts: int | None,
) -> None:
    ledger = Ledger.of(config)
    if attempts is not None:
        row = ledger.items(feed).get(entry.guid)
        if row is not None and (row.state == "done" or row.attempts > attempts):
            return  # the episode run recorded its own end (done after all, or its error)
    ledger.record(
        feed,
        entry.guid,
        source=entry.source,
        title=entry.title,
        state="failed",
        error=line,
        enclosure=entry.enclosure,
    )
    key = source_key(entry.source, entry.item)
    episode_id = ledger.episode_for(key)
    if episode_id is None or load_state(open_state(config), episode_id) is None:
        ledger.record_fetch_failure(key, entry.source, entry.item, overrides, line)


def _draft_of(config: Config, episode_id: str | None) -> str | None:
    """The draft an earlier run of ``episode_id`` wrote (its run record), if any."""
    state = load_state(open_state(config), episode_id) if episode_id else None
    path = draft_file(config, state.draft_path) if state is not None else None
    return str(path) if path is not None else None


def record_outcome(
    config: Config,
    feed: str,
    entry: FeedItem,
    result: dict[str, Any] | None = None,
    error: BaseException | None = None,
    overrides: dict[str, Any] | None = None,
    attempts: int | None = None,
) -> Outcome:
    """Record one item's end in the ledger: ``result`` (an episode flow's result dict) or
    the ``error`` it failed with (as one line, :func:`pipeline.faults.one_line`).

    A failed item that never became an episode with a run record (its fetch failed, or
    the Prefect API failed the child flow before it ran) is also kept as a failed fetch,
    with ``overrides``, so ``podpost status`` shows it and ``podpost resume --all`` retries
    it. Recording a failure never raises: a ledger that cannot be written (a full disk) is
    a warning, and the item's own error stays its outcome. ``attempts`` (the row's attempts
    when the ingestion planned the item) is given by an ingestion recording a run that may
    have recorded its own end: a row that says ``done`` or counts more attempts is left as
    the run wrote it."""
    if result is None:
        line = message(error) if error is not None else "no result"
        keep_record(
            _log.warning, _record_failure, config, feed, entry, line, overrides or {}, attempts
        )
        return Outcome(entry.guid, entry.title, "failed", error=line)
    Ledger.of(config).record(
        feed,
        entry.guid,
        source=entry.source,
        title=entry.title,
        state="done",
        episode_id=result["episode_id"],
        enclosure=entry.enclosure,
    )
    return outcome_of(entry, result)


def outcome_of(entry: FeedItem, result: dict[str, Any]) -> Outcome:
    """The outcome of an item whose episode run ended with ``result`` (its result dict);
    writes nothing (the run recorded its own ledger row)."""
    episode_id = result["episode_id"]
    failed = int(result.get("failed_turns") or 0)
    state = "needs-review" if failed else "new"
    if result.get("stage") == "turns":
        state = "review-speakers"
    return Outcome(
        entry.guid,
        entry.title,
        state,
        draft=result["draft"],
        episode_id=episode_id,
        failed_turns=failed,
    )


def deployment_result(
    config: Config,
    source: str,
    item: str | None,
    *,
    completed: bool,
    run_name: str,
    state_name: str,
    state_message: str,
) -> dict[str, Any]:
    """The result of an episode run made by a worker (results are not shared between
    processes; the ledger and the episode's ``run.json`` in the shared data directory say
    what came out). Raises SourceError when the run did not complete."""
    episode_id = Ledger.of(config).episode_for(source_key(source, item))
    state = load_state(open_state(config), episode_id) if episode_id else None
    if not completed or state is None:
        why = (state.error if state and state.state == "failed" else None) or state_message
        raise SourceError(f"flow run {run_name} ended {state_name}: {why}")
    return {
        "episode_id": episode_id,
        "draft": str(draft_file(config, state.draft_path) or "") or None,
        "failed_turns": state.failed_turns,
    }


def deployment_name(feed: str) -> str:
    """The default name of a feed's scheduled ingest deployment."""
    return f"ingest-{digest(feed)[:10]}"


def attempts_of(config: Config, feed: str, guid: str) -> int:
    """How many runs of the item ``guid`` of ``feed`` the ledger has recorded (0: none)."""
    row = Ledger.of(config).items(feed).get(guid)
    return row.attempts if row is not None else 0


def idempotency_key(feed: str, entry: FeedItem, attempts: int, retry: int = 0) -> str:
    """The Prefect idempotency key of one run of ``entry``: the same for every ingestion
    that finds the item at ``attempts`` recorded runs (so a retried or doubled ingestion
    gets the run already made instead of a second one), new once the ledger counts
    another attempt, and new for each ``retry`` of a run that crashed."""
    return f"podpost-item-{digest(feed, entry.guid, entry.enclosure)[:24]}-{attempts}-{retry}"


def ingest_failure(summary: IngestSummary) -> IngestFailedError | None:
    """The error an ingestion with failed items ends with, naming each (None: none failed)."""
    failed = [o for o in summary.outcomes if o.state == "failed"]
    if not failed:
        return None
    names = "; ".join(f"{o.title or o.guid} ({o.error})" for o in failed)
    ran = len([o for o in summary.outcomes if o.state not in ("done-before", "skipped")])
    return IngestFailedError(
        f"{len(failed)} of {ran} items failed: {names}",
        summary.as_dict(),
        hint="each is recorded in the ledger; the next ingestion retries it "
        "(`podpost status` shows why)",
    )
