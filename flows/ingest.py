"""The ingest flow: every item of a feed not yet done, through the episode flow.

:func:`pipeline.run.ingest.plan_ingest` says which items to run (the ledger knows what is
done); each runs as a child flow of :func:`flows.episode.episode_flow`, at most
``concurrency`` at once (a Prefect thread-pool task runner), or, with
``episode_deployment``, as a run of that deployment so a work pool's workers share them.
One failing item is recorded with its error and does not stop the others; an ingestion
with failed items ends Failed (:class:`~pipeline.errors.IngestFailedError`, naming them)
once every item has ended.

Each episode run records its own ledger row (:mod:`flows.episode`). A run of the episode
deployment is made with an idempotency key per item (:func:`pipeline.run.ingest.idempotency_key`),
so a retried or doubled ingestion gets the run already made instead of a second one. The
wait for each run is bounded (``wait_seconds``): a run still going after it is a failed item
of this ingestion (its own row says how it ended). A run that crashed (its worker died: the
zombie automation in ``flows/automations.yaml`` marks a run Crashed once its heartbeats
stop) is started again, up to ``crash_retries`` times, on whichever worker takes it; it
resumes from the last finished step, which the episode's run record keeps.

``serve_schedule`` (``podpost schedule``) serves this flow as a deployment with a cron
schedule; ``prefect.yaml`` defines deployments of both flows for a process work pool.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.episode import episode_flow, flow_config, prefect_log
from pipeline.config import Config
from pipeline.errors import SourceError
from pipeline.fetch.feeds import FeedItem
from pipeline.run.ingest import (
    Outcome,
    attempts_of,
    deployment_name,
    deployment_result,
    idempotency_key,
    ingest_failure,
    outcome_of,
    plan_ingest,
    record_outcome,
)
from pipeline.run.progress import Reporter

DEFAULT_CONCURRENCY = 2
DEFAULT_WAIT_SECONDS = 6 * 3600.0  # one run of the episode deployment, queueing included
DEFAULT_CRASH_RETRIES = 2  # new runs for an item whose run crashed
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Waits:
    """How long to wait for each run of the episode deployment, and how many new runs an
    item whose run crashed gets."""

    seconds: float = DEFAULT_WAIT_SECONDS
    crash_retries: int = DEFAULT_CRASH_RETRIES


@task(name="ingest-item", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
def ingest_item(
    config: Config,
    feed: str,
    entry: FeedItem,
    parameters: dict[str, Any],
    episode_deployment: str | None = None,
    waits: Waits | None = None,
) -> Outcome:
    """One item through the episode flow (a child flow run, which records its own ledger
    row); the ledger gets a failure here only when the run did not record its end."""
    overrides = parameters.get("overrides")
    attempts = attempts_of(config, feed, entry.guid)
    try:
        if episode_deployment:
            key = idempotency_key(feed, entry, attempts)
            result = _via_deployment(config, episode_deployment, parameters, key, waits or Waits())
        else:
            result = episode_flow(**parameters)
        return outcome_of(entry, result)
    except Exception as e:  # the item failed, or its end is unknown
        return record_outcome(config, feed, entry, error=e, overrides=overrides, attempts=attempts)


def _via_deployment(
    config: Config, name: str, parameters: dict[str, Any], key: str, waits: Waits
) -> dict[str, Any]:
    """Run the item as a flow run of the episode deployment ``name`` and wait for it, at
    most ``waits.seconds``; a run that crashed is started again (a new idempotency key)
    up to ``waits.crash_retries`` times."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    for retry in range(waits.crash_retries + 1):
        run = cast(
            "FlowRun",
            run_deployment(
                name=name,
                parameters=parameters,
                timeout=waits.seconds,
                poll_interval=POLL_SECONDS,
                idempotency_key=f"{key}-{retry}" if retry else key,
            ),
        )
        state = run.state
        if state is None or not state.is_final():
            raise SourceError(
                f"flow run {run.name} is still {run.state_name} after {waits.seconds:g} s",
                hint="its own ledger row records how it ends; the next ingestion takes the "
                "item again if it failed",
            )
        if not state.is_crashed() or retry == waits.crash_retries:
            break
        prefect_log(f"{parameters['source']}: flow run {run.name} crashed; starting it again")
    return deployment_result(
        config,
        parameters["source"],
        parameters["item"],
        completed=run.state is not None and run.state.is_completed(),
        run_name=run.name,
        state_name=str(run.state_name),
        state_message=(run.state.message or "") if run.state else "no state",
    )


@flow(name="ingest", persist_result=False, log_prints=False)
def ingest_flow(
    feed: str,
    limit: int | None = None,
    since: dt.date | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    overrides: dict[str, Any] | None = None,
    config_path: str | None = None,
    episode_deployment: str | None = None,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    crash_retries: int = DEFAULT_CRASH_RETRIES,
) -> dict[str, Any]:
    """Every item of ``feed`` not yet done, ``concurrency`` at once; returns
    :meth:`pipeline.run.ingest.IngestSummary.as_dict`, or raises
    :class:`~pipeline.errors.IngestFailedError` (with that summary) naming the items that
    failed.

    With ``episode_deployment`` (e.g. ``"episode/episode"`` from prefect.yaml) each item
    becomes a run of that deployment, so the episodes spread over the pool's workers;
    ``wait_seconds`` bounds the wait for each run and ``crash_retries`` is how many new
    runs an item whose run crashed gets.
    """
    config = flow_config(overrides, config_path)
    report = Reporter(log=prefect_log)
    summary, todo = plan_ingest(feed, config, limit=limit, since=since)
    report.line(
        f"ingest: {len(summary.outcomes) + len(todo)} items, "
        f"{summary.count('done-before')} done before, {summary.count('skipped')} without "
        f"media, {len(todo)} to run"
    )
    runner: ThreadPoolTaskRunner[Outcome] = ThreadPoolTaskRunner(max_workers=max(1, concurrency))
    with runner:
        futures = [
            runner.submit(
                ingest_item,
                {
                    "config": config,
                    "feed": feed,
                    "entry": entry,
                    "parameters": {
                        "source": entry.source,
                        "item": entry.item,
                        "overrides": overrides,
                        "config_path": config_path,
                        "wait": True,
                        "feed": feed,
                        "entry": entry.model_dump(mode="json"),
                    },
                    "episode_deployment": episode_deployment,
                    "waits": Waits(wait_seconds, crash_retries),
                },
            )
            for entry in todo
        ]
        for future in futures:
            outcome = future.result()
            summary.outcomes.append(outcome)
            what = outcome.draft if outcome.state != "failed" else f"failed: {outcome.error}"
            report.line(f"{outcome.title or outcome.guid}: {what}")
    failure = ingest_failure(summary)
    if failure is not None:
        raise failure
    return summary.as_dict()


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
