"""The ingest flow: every item of a feed not yet done, through the episode flow.

:func:`pipeline.run.ingest.plan_ingest` says which items to run (the ledger knows what is
done); each runs as a child flow of :func:`flows.episode.episode_flow`, at most
``concurrency`` at once (a Prefect thread-pool task runner), or, with
``episode_deployment``, as a run of that deployment so a work pool's workers share them.
One failing item is recorded with its error and does not stop the others.

``serve_schedule`` (``podpost schedule``) serves this flow as a deployment with a cron
schedule; ``prefect.yaml`` defines deployments of both flows for a process work pool.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.episode import episode_flow, flow_config, prefect_log
from pipeline.config import Config
from pipeline.fetch.feeds import FeedItem
from pipeline.run.ingest import (
    Outcome,
    deployment_name,
    deployment_result,
    plan_ingest,
    record_outcome,
)
from pipeline.run.progress import Reporter

DEFAULT_CONCURRENCY = 2


@task(name="ingest-item", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
def ingest_item(
    config: Config,
    feed: str,
    entry: FeedItem,
    parameters: dict[str, Any],
    episode_deployment: str | None = None,
) -> Outcome:
    """One item through the episode flow (a child flow run); the ledger records the end."""
    overrides = parameters.get("overrides")
    try:
        if episode_deployment:
            result = _via_deployment(config, episode_deployment, parameters)
        else:
            result = episode_flow(**parameters)
        return record_outcome(config, feed, entry, result)
    except Exception as e:  # the item failed, or its success could not be recorded
        return record_outcome(config, feed, entry, error=e, overrides=overrides)


def _via_deployment(config: Config, name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Run the item as a flow run of the episode deployment ``name`` and wait for it."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = cast(
        "FlowRun",
        run_deployment(name=name, parameters=parameters, timeout=None, poll_interval=1),
    )
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
) -> dict[str, Any]:
    """Every item of ``feed`` not yet done, ``concurrency`` at once; returns
    :meth:`pipeline.run.ingest.IngestSummary.as_dict`.

    With ``episode_deployment`` (e.g. ``"episode/episode"`` from prefect.yaml) each item
    becomes a run of that deployment, so the episodes spread over the pool's workers.
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
                    },
                    "episode_deployment": episode_deployment,
                },
            )
            for entry in todo
        ]
        for future in futures:
            outcome = future.result()
            summary.outcomes.append(outcome)
            what = outcome.draft if outcome.state != "failed" else f"failed: {outcome.error}"
            report.line(f"{outcome.title or outcome.guid}: {what}")
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
