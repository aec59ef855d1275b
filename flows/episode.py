"""The episode flow: :func:`pipeline.run.episode.run_episode` with each step a Prefect task.

Everything a run decides (step keys, freshness, the lock, run state, the ledger, the
draft) lives in :mod:`pipeline.run`; this module only wraps the steps in tasks, names the
flow, and leaves two artifacts per run: the draft as Markdown and its review flags as a
table.

Retries: one layer per boundary. The library already retries what may pass (the LLM
client: ``[llm] max_retries``; fetch: ``[fetch] retries``), so the tasks never retry:
Prefect retries on top would multiply those counts (three task attempts of six LLM
requests each was 18 requests for one persistent 500).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.config import Config, RunConfig, load_config
from pipeline.run.episode import EpisodeResult, review_rows, run_episode
from pipeline.run.progress import Reporter
from pipeline.run.steps import STEPS

TASK_RETRIES = 0  # see the module docstring: the library layer owns the retries

TASKS = {
    name: task(
        name=name,
        retries=TASK_RETRIES,
        cache_policy=NO_CACHE,  # the episode folder is the cache (pipeline.run.steps)
        persist_result=False,
        log_prints=False,
    )(step)
    for name, step in STEPS.items()
}


def prefect_log(line: str) -> None:
    """Send a progress line to the Prefect run logger, when there is a run context."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    # A worker thread outside the run context has no logger: the console line is enough.
    with contextlib.suppress(MissingContextError):
        get_run_logger().info(line)


def artifact_key(kind: str, episode_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"{kind}-" + re.sub(r"[^a-z0-9-]+", "-", episode_id.lower()).strip("-")


def _artifacts(config: Config, result: EpisodeResult) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    path = result.draft.path
    create_markdown_artifact(
        markdown=result.text,
        key=artifact_key("draft", result.episode_id),
        description=f"Draft of {result.title or result.episode_id}: {path}",
    )
    create_table_artifact(
        table=review_rows(config, path),
        key=artifact_key("review-flags", result.episode_id),
        description=f"Review flags of {path}",
    )


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
    until: str | None = None,
    episode_id: str | None = None,
) -> dict[str, Any]:
    """One episode end to end; returns :meth:`EpisodeResult.as_dict` (with
    ``failed_turns``). ``overrides`` are config values (what the CLI flags set); secrets
    stay in the environment or the config file, never in Prefect's database.
    ``retry_failed`` redoes the editorial step asking only for failed translations;
    ``until="turns"`` stops at a speakers draft (None: the config's ``[run] until``);
    ``episode_id`` (a resume) must be the episode the source still is."""
    config = flow_config(overrides, config_path)
    result = run_episode(
        source,
        config,
        item=item,
        overrides=overrides,
        wait=wait,
        retry_failed=retry_failed,
        report=Reporter(log=prefect_log),
        tasks=TASKS,
        flow_run_id=_flow_run_id(),
        until=RunConfig.model_validate({"until": until}).until
        if until
        else None,  # a value [run] until takes
        episode_id=episode_id,
    )
    _artifacts(config, result)
    return result.as_dict()
