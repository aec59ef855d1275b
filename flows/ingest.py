"""The ingest flow: list a feed, run the episode flow for each item not yet done.

The ledger (:mod:`pipeline.run.ledger`, SQLite in the data directory) says which items of a
feed are done. Items that are not (new ones, and ones that failed before) run through
:func:`flows.episode.episode_flow` as child flows, at most ``concurrency`` at once (a
Prefect thread-pool task runner). One failing item is recorded with its error and does not
stop the others; the next ingestion retries it, and leaves done items untouched.

``serve_schedule`` (``podpost schedule``) serves this flow as a deployment with a cron
schedule; ``prefect.yaml`` defines deployments of both flows for a process work pool.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.episode import episode_flow, flow_config, source_key
from flows.progress import Reporter
from pipeline.config import Config
from pipeline.errors import PodpostError
from pipeline.run.ledger import Ledger
from pipeline.run.state import digest, load_state

DEFAULT_CONCURRENCY = 2


@dataclass
class Outcome:
    guid: str
    title: str
    state: str  # new | failed | done-before | not-taken
    draft: str | None = None
    error: str | None = None
    episode_id: str | None = None


@dataclass
class IngestSummary:
    feed: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes if o.state == state)

    def as_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "new": self.count("new"),
            "failed": self.count("failed"),
            "done_before": self.count("done-before"),
            "items": [o.__dict__ for o in self.outcomes],
        }


@task(name="ingest-item", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
def ingest_item(
    feed: str,
    guid: str,
    source: str,
    item: str | None,
    title: str,
    overrides: dict[str, Any] | None,
    config_path: str | None,
    ledger_path: str,
    episode_deployment: str | None = None,
) -> Outcome:
    """One item through the episode flow (a child flow run); the ledger records the end."""
    ledger = Ledger(Path(ledger_path))
    parameters: dict[str, Any] = {
        "source": source,
        "item": item,
        "overrides": overrides,
        "config_path": config_path,
        "wait": True,
    }
    try:
        if episode_deployment:
            result = _via_deployment(episode_deployment, parameters, ledger)
        else:
            result = episode_flow(**parameters)
    except Exception as e:
        error = e.one_line() if isinstance(e, PodpostError) else f"{type(e).__name__}: {e}"
        ledger.record(feed, guid, source=source, title=title, state="failed", error=error)
        return Outcome(guid, title, "failed", error=error)
    ledger.record(
        feed, guid, source=source, title=title, state="done", episode_id=result["episode_id"]
    )
    return Outcome(guid, title, "new", draft=result["draft"], episode_id=result["episode_id"])


def _via_deployment(name: str, parameters: dict[str, Any], ledger: Ledger) -> dict[str, Any]:
    """Run the item as a flow run of the episode deployment ``name``, so that any worker of
    its pool may take it, and wait for it. Results are not shared between processes; the
    ledger and the episode's run.json (in the shared data directory) say what came out."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    from pipeline.errors import SourceError

    run = cast(
        "FlowRun",
        run_deployment(name=name, parameters=parameters, timeout=None, poll_interval=1),
    )
    source = source_key(parameters["source"], parameters["item"])
    episode_id = ledger.episode_for(source)
    episodes = Config(data_dir=ledger.path.parent).episodes_dir  # the ledger sits in data_dir
    state = load_state(episodes / episode_id) if episode_id else None
    if run.state is None or not run.state.is_completed():
        message = (state.error if state and state.state == "failed" else None) or (
            run.state.message if run.state else "no state"
        )
        raise SourceError(f"flow run {run.name} ended {run.state_name}: {message}")
    assert episode_id is not None and state is not None
    return {"episode_id": episode_id, "draft": state.draft_path}


def run_ingest(
    feed: str,
    config: Config,
    *,
    limit: int | None = None,
    since: dt.date | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    overrides: dict[str, Any] | None = None,
    config_path: str | None = None,
    episode_deployment: str | None = None,
    report: Reporter | None = None,
) -> IngestSummary:
    """Must run inside a flow (the items are submitted as tasks)."""
    from pipeline.fetch.feeds import FeedItem, list_feed

    report = report or Reporter()
    items = list_feed(feed, config)
    if since is not None:
        items = [i for i in items if i.date is None or i.date >= since]
    known = Ledger.of(config).items(feed)
    summary = IngestSummary(feed)
    todo: list[FeedItem] = []
    for entry in items:
        previous = known.get(entry.guid)
        if previous is not None and previous.state == "done":
            summary.outcomes.append(
                Outcome(entry.guid, entry.title, "done-before", episode_id=previous.episode_id)
            )
        elif limit is not None and len(todo) >= limit:
            summary.outcomes.append(Outcome(entry.guid, entry.title, "not-taken"))
        else:
            todo.append(entry)
    report.line(
        f"ingest: {len(items)} items, {summary.count('done-before')} done before, "
        f"{len(todo)} to run"
    )
    ledger_path = str(Ledger.of(config).path)
    runner: ThreadPoolTaskRunner[Outcome] = ThreadPoolTaskRunner(max_workers=max(1, concurrency))
    with runner:
        futures = [
            runner.submit(
                ingest_item,
                {
                    "feed": feed,
                    "guid": entry.guid,
                    "source": entry.source,
                    "item": entry.item,
                    "title": entry.title,
                    "overrides": overrides,
                    "config_path": config_path,
                    "ledger_path": ledger_path,
                    "episode_deployment": episode_deployment,
                },
            )
            for entry in todo
        ]
        for future in futures:
            outcome = future.result()
            summary.outcomes.append(outcome)
            what = outcome.draft if outcome.state == "new" else f"failed: {outcome.error}"
            report.line(f"{outcome.title or outcome.guid}: {what}")
    return summary


@flow(name="ingest", persist_result=False, log_prints=False)
def ingest_flow(
    feed: str,
    limit: int | None = None,
    since: dt.date | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    overrides: dict[str, Any] | None = None,
    config_path: str | None = None,
    episode_deployment: str | None = None,
) -> dict[str, Any]:
    """Every item of ``feed`` not yet done, through the episode flow, ``concurrency`` at once.

    With ``episode_deployment`` (e.g. ``"episode/episode"`` from prefect.yaml) each item
    becomes a run of that deployment, so the episodes spread over the pool's workers.
    """
    config = flow_config(overrides, config_path)
    return run_ingest(
        feed,
        config,
        limit=limit,
        since=since,
        concurrency=concurrency,
        overrides=overrides,
        config_path=config_path,
        episode_deployment=episode_deployment,
    ).as_dict()


def deployment_name(feed: str) -> str:
    return f"ingest-{digest(feed)[:10]}"


def serve_schedule(
    feed: str,
    cron: str,
    *,
    name: str | None = None,
    limit: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    overrides: dict[str, Any] | None = None,
    config_path: str | None = None,
    episode_deployment: str | None = None,
) -> None:
    """Serve the ingest flow as a deployment on ``cron`` (blocks; Ctrl-C stops it)."""
    ingest_flow.serve(
        name=name or deployment_name(feed),
        cron=cron,
        parameters={
            "feed": feed,
            "limit": limit,
            "concurrency": concurrency,
            "overrides": overrides or {},
            "config_path": config_path,
            "episode_deployment": episode_deployment,
        },
        description=f"podpost ingest of {feed}",
        print_starting_message=True,
    )
