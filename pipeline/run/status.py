"""``podpost status``: one row per episode, read from ``run.json`` and the ledger.

A row's ``state`` is what a person needs to know, which is not always what ``run.json``
says: a ``running`` run whose process is gone (its lock is free) reads as ``failed``
("interrupted during <step>"), and a finished run whose draft has turns without a
translation reads as ``needs-review`` (``failed_turns`` says how many; ``podpost resume
ID --retry-failed`` asks the LLM again for those turns only). A run stopped with
``--until turns`` reads as ``review-speakers`` until ``podpost resume`` translates it.

``state`` is about the latest run. What an earlier run finished stays on the row: a rerun
that fails keeps the draft, its review state and where it was published; a version a
rerun wrote beside a draft a person edited or approved is the row's ``proposal``, never
its ``draft``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pipeline.config import Config, LLMConfig
from pipeline.db import StateDB, has_state, open_state
from pipeline.errors import NeedsReviewError, PodpostError
from pipeline.llm import model_hint
from pipeline.review.record import load_record, review_state
from pipeline.run.ledger import Ledger
from pipeline.run.state import RunState, draft_file, is_locked, run_records
from pipeline.store import Store

RowState = Literal["pending", "running", "done", "needs-review", "failed", "review-speakers"]


class StatusRow(BaseModel):
    """One episode (or one source whose fetch failed before it had an id)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None  # None: the fetch failed before the episode had an id
    title: str
    source: str
    item: str | None = None
    last_step: str | None
    state: RowState
    step: str | None  # running or failed step
    error: str | None
    draft: str | None
    tokens: int
    failed_turns: int = 0  # turns of the draft without a translation
    review: str | None  # drafted | edited | approved | rejected; None without a draft
    updated: str | None
    published: str | None = None  # where the approved post went (``podpost approve``)
    # a newer version a rerun wrote beside a draft a person edited or approved, and its
    # review state
    proposal: str | None = None
    proposal_review: str | None = None


def _review_state(db: StateDB, draft: str | None) -> str | None:
    if not draft or not Path(draft).is_file():
        return None
    try:
        return review_state(db, Path(draft))
    except PodpostError:
        return None  # an unreadable draft record: status still lists the run


def _published(db: StateDB, draft: str | None, review: str | None) -> str | None:
    """Where the approved draft was published, from its record's last decision."""
    if review != "approved" or not draft:
        return None
    try:
        record = load_record(db, Path(draft))
    except PodpostError:
        return None
    return record.decisions[-1].target if record and record.decisions else None


# ``<id>.new.md``, ``<id>.new-2.md``: what pipeline.review.drafts writes beside a kept draft
_BESIDE = re.compile(r"^(?P<stem>.+)\.new(?:-\d+)?\.md$")


def _draft_and_proposal(config: Config, state: RunState) -> tuple[str | None, str | None]:
    """The episode's draft and the version proposed beside it, as local paths. A record
    written before proposals were kept apart names the ``.new.md`` as its draft: the draft
    it was written beside is still the episode's draft when it is there."""
    draft_at, proposal_at = (
        draft_file(config, state.draft_path),
        draft_file(config, state.proposal_path),
    )
    draft = str(draft_at) if draft_at is not None else None
    proposal = str(proposal_at) if proposal_at is not None else None
    if draft and proposal is None and (match := _BESIDE.match(Path(draft).name)):
        kept = Path(draft).with_name(f"{match['stem']}.md")
        if kept.is_file():
            return str(kept), draft
    return draft, proposal


def status_row(config: Config, db: StateDB, state: RunState) -> StatusRow:
    """The row of one episode's run record."""
    effective: RowState = state.state
    error = state.error
    if state.state == "running" and not is_locked(db, state.episode_id):
        effective = "failed"
        error = f"interrupted during {state.step or 'start-up'} (process {state.pid} is gone)"
    elif state.state == "done" and state.failed_turns:
        effective = "needs-review"
    draft, proposal = _draft_and_proposal(config, state)
    review = _review_state(db, draft)
    return StatusRow(
        id=state.episode_id,
        title=state.title,
        source=state.source,
        item=state.item,
        last_step=state.last_step,
        state=effective,
        step=state.step,
        error=error,
        draft=draft,
        tokens=state.tokens,
        failed_turns=state.failed_turns,
        review=review,
        updated=state.updated_at,
        published=_published(db, draft, review),
        proposal=proposal if proposal and Path(proposal).is_file() else None,
        proposal_review=_review_state(db, proposal),
    )


def status(config: Config) -> list[StatusRow]:
    """One row per episode with a run record, plus one per source whose fetch failed before
    it had an episode (from the ledger); most recently updated first. Reads only the state
    database: a data folder with none yet is not created."""
    rows = []
    if has_state(config):
        Store.of(config).pull_records()  # drafts made on other machines ([storage] url)
        db = open_state(config)
        rows = [status_row(config, db, state) for state in run_records(db)]
        for failure in Ledger.of(config).fetch_failures():
            rows.append(
                StatusRow(
                    id=None,
                    title="",
                    source=failure.source,
                    item=failure.item,
                    last_step=None,
                    state="failed",
                    step="fetch",
                    error=failure.error,
                    draft=None,
                    tokens=0,
                    review=None,
                    updated=failure.updated,
                )
            )
    rows.sort(key=lambda r: r.updated or "", reverse=True)
    return rows


# --- runs that wrote a draft but are not a success -------------------------------------


def turn_ranges(numbers: list[int]) -> str:
    """Turn numbers as short ranges: ``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    ranges: list[list[int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in ranges)


def check_complete(
    episode_id: str,
    draft: str,
    failed: int,
    numbers: list[int] | None = None,
    stopped: str = "",
    *,
    llm: LLMConfig | None = None,
) -> None:
    """Raise :class:`NeedsReviewError` when ``failed`` turns of the draft lack a translation;
    ``numbers`` names them (1-based, as ``podpost review`` does), ``stopped`` says why the
    run stopped asking the model (its breaker tripped); then the hint says what to change
    for the model of ``llm`` (:func:`pipeline.llm.model_hint`: a bigger local model or an
    endpoint, or the endpoint's model and URL)."""
    if not failed:
        return
    which = f" (turns {turn_ranges(numbers)})" if numbers else ""
    message = f"{failed} turn{'s' if failed != 1 else ''} of {draft} failed to translate{which}"
    hint = f"ask again for those turns only: podpost resume {episode_id} --retry-failed"
    if stopped:
        message = f"{message}: {stopped.removeprefix('not asked: ')}, so podpost stopped asking"
        fix = model_hint(llm) if llm else "check the [llm] settings"
        hint = f"{fix}, then {hint}"
    raise NeedsReviewError(message, failed_turns=failed, hint=hint)


def check_ingest(summary: dict[str, Any]) -> None:
    """Raise NeedsReviewError (exit 8) when drafts were written with failed turns."""
    count = summary.get("needs_review") or 0
    if count:
        turns = sum(o.get("failed_turns") or 0 for o in summary["items"])
        raise NeedsReviewError(
            f"{count} draft{'s' if count != 1 else ''} of {summary['feed']} have {turns} "
            "turns that failed to translate",
            failed_turns=turns,
            hint="see `podpost status`; ask again for those turns only: "
            "podpost resume --all --retry-failed",
        )
