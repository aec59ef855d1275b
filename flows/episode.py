"""The episode flow: :func:`pipeline.run.episode.run_episode` with each step a Prefect task.

Everything a run decides (step keys, freshness, the lock, run state, the ledger, the
draft) lives in :mod:`pipeline.run`; this module only wraps the steps in tasks, names the
flow, and leaves two artifacts per run: the draft as Markdown and its review flags as a
table.

Several machines: a run given its feed item (``feed`` and ``entry``, as the ingest flow
passes them) records its own ledger row when it ends, so the ledger is right whichever
worker ran it. In a run of a deployment (one a worker took) the fetch step holds a slot
of the media host's shared limit and every LLM request one of the endpoint's
(:mod:`flows.limits`); a run from a podpost command is alone and takes none. The LLM key
comes from the worker: its environment or config file, else the Prefect Secret block
:data:`SECRET_BLOCK`; a run whose parameters carry a key is refused, since parameters are
kept in Prefect's database.

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

from flows.limits import GatedClient, shared_slot
from pipeline.config import Config, RunConfig, load_config, with_overrides
from pipeline.errors import ConfigError
from pipeline.fetch.feeds import FeedItem
from pipeline.run.episode import EpisodeResult, review_rows, run_episode
from pipeline.run.ingest import record_outcome
from pipeline.run.progress import Reporter
from pipeline.run.steps import STEPS

TASK_RETRIES = 0  # see the module docstring: the library layer owns the retries
SECRET_BLOCK = "podpost-llm-api-key"  # a Prefect Secret block holding the LLM key

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
    the same way the CLI does, from the environment plus the run's overrides, with the LLM
    key from the worker (:func:`llm_key`). Raises :class:`ConfigError` when the overrides
    carry a key: flow parameters are stored in Prefect's database."""
    if ((overrides or {}).get("llm") or {}).get("api_key"):
        raise ConfigError(
            "an LLM API key was given as a flow parameter, which Prefect stores in its database",
            hint=f"give each worker OPENAI_API_KEY (or a podpost.toml), or save the key "
            f"in a Prefect Secret block named {SECRET_BLOCK}",
        )
    config = load_config(
        Path(config_path) if config_path else None, env=os.environ, overrides=overrides or {}
    )
    return llm_key(config)


def llm_key(config: Config) -> Config:
    """``config`` with the LLM key of the Secret block :data:`SECRET_BLOCK` when it names
    an endpoint and has no key of its own (the worker's environment and config file win);
    as it is when there is no such block."""
    if config.llm.api_key or not config.llm.base_url:
        return config
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(SECRET_BLOCK, _sync=True)  # type: ignore[call-arg]
    except ValueError:  # no such block: the client says that a key is missing
        return config
    return with_overrides(config, {"llm": {"api_key": str(secret.get())}})


def _from_deployment() -> bool:
    """Whether this flow run belongs to a deployment (a worker runs it beside others): only
    those take the pool's shared slots; a run from a podpost command is alone."""
    from prefect.runtime import deployment

    return deployment.id is not None


def _fetch_in_slot(fetch: Any, source: str) -> Any:
    """The fetch step, holding a slot of the source's media host (:mod:`flows.limits`)."""

    def fetch_step(job: Any) -> Any:
        with shared_slot("media", source):
            return fetch(job)

    return fetch_step


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
    feed: str | None = None,
    entry: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One episode end to end; returns :meth:`EpisodeResult.as_dict` (with
    ``failed_turns``). ``overrides`` are config values (what the CLI flags set); secrets
    stay in the environment or the config file, never in Prefect's database.
    ``retry_failed`` redoes the editorial step asking only for failed translations;
    ``until="turns"`` stops at a speakers draft (None: the config's ``[run] until``);
    ``episode_id`` (a resume) must be the episode the source still is. ``feed`` and
    ``entry`` (a :class:`~pipeline.fetch.feeds.FeedItem` as JSON): the feed item this run
    is, whose ledger row the run records when it ends."""
    config = flow_config(overrides, config_path)
    item_of = FeedItem.model_validate(entry) if feed and entry else None
    base_url = config.llm.base_url or ""
    pool = _from_deployment()  # a run a worker took: it shares the pool's limits
    try:
        result = run_episode(
            source,
            config,
            item=item,
            overrides=overrides,
            wait=wait,
            retry_failed=retry_failed,
            report=Reporter(log=prefect_log),
            tasks={**TASKS, "fetch": _fetch_in_slot(TASKS["fetch"], source)} if pool else TASKS,
            flow_run_id=_flow_run_id(),
            until=RunConfig.model_validate({"until": until}).until
            if until
            else None,  # a value [run] until takes
            episode_id=episode_id,
            wrap_llm=(lambda client: GatedClient(client, base_url)) if pool else None,
        )
    except Exception as e:
        if feed and item_of is not None:
            record_outcome(config, feed, item_of, error=e, overrides=overrides)
        raise
    if feed and item_of is not None:
        record_outcome(config, feed, item_of, result.as_dict())
    _artifacts(config, result)
    return result.as_dict()
