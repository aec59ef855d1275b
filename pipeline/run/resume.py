"""``podpost resume``: which runs to finish, and with what source and settings.

A run is resumed from what its ``run.json`` kept: the source, the feed item and the
overrides (the flags it started with, and those the step commands were given). ``--all``
takes every failed or interrupted run, every source whose fetch failed before it had an
episode (from the ledger), and, with ``--retry-failed``, every run whose draft has turns
that failed to translate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Config, deep_merge
from pipeline.db import has_state, open_state
from pipeline.errors import InputFileError
from pipeline.run.ledger import Ledger
from pipeline.run.state import load_state, recorded_overrides
from pipeline.run.status import status
from pipeline.run.steps import known_episode


@dataclass(frozen=True)
class ResumeTarget:
    """One run to start again: ``label`` names it in messages; ``episode_id`` is the
    episode it must stay (None: a source whose fetch failed, not an episode yet)."""

    label: str
    source: str
    item: str | None
    overrides: dict[str, Any]
    episode_id: str | None = None


def absolute_source(source: str) -> str:
    """A local file as its absolute path (so ``podpost resume`` works from any folder);
    anything else as given."""
    local = Path(source).expanduser()
    if "://" not in source and local.exists():
        return str(local.resolve())
    return source


def _target(config: Config, ref: str | Path) -> ResumeTarget:
    """The run of ``ref``: an episode id, or an episode folder (named by its id)."""
    path = Path(ref).expanduser()
    episode_id = path.name if path.is_dir() else str(ref)
    state = load_state(open_state(config), episode_id) if has_state(config) else None
    if state is None or not state.source:
        raise InputFileError(
            f"{ref} has no run to resume",
            hint="start one with `podpost run SOURCE`",
        )
    return ResumeTarget(
        state.episode_id, state.source, state.item, state.overrides, state.episode_id
    )


def resume_targets(
    config: Config, episode: str | None = None, *, retry_failed: bool = False
) -> list[ResumeTarget]:
    """The run of ``episode`` (an id or folder), or with ``episode=None`` every run that
    needs finishing (see the module docstring). Raises InputFileError for an episode
    that is not there or has no run."""
    if episode is not None:
        # a run whose fetch failed has a run record but no episode.json yet: it resumes too
        return [_target(config, episode)]
    targets = [
        _target(config, row.id)
        for row in status(config)
        if row.id is not None and (row.state == "failed" or (retry_failed and row.failed_turns > 0))
    ]
    if has_state(config):
        targets += [
            ResumeTarget(f.source, f.source, f.item, f.overrides)
            for f in Ledger.of(config).fetch_failures()
        ]
    return targets


def rerun_overrides(
    config: Config, source: str, item: str | None, given: dict[str, Any]
) -> dict[str, Any]:
    """The overrides a run of ``source`` starts with: those its episode was made with, when
    the source is a known episode (no network asked), with the ``given`` flags on top; just
    ``given`` for a new source. :func:`pipeline.run.episode.run_episode` merges the same way
    once it has the episode; this lets the CLI check the merged settings before fetching."""
    if not has_state(config):
        return given  # nothing run yet; and a check that fails leaves no data folder behind
    folder = known_episode(config, source, item)
    if folder is None:
        return given
    return deep_merge(recorded_overrides(open_state(config), folder.name), given)
