"""The pure parts of running a feed on a pool (issue 21), without a Prefect server.

The idempotency key of an item's run, the ledger row an ingestion leaves alone when the
episode run recorded its own end, the error a failed ingestion ends with, the names of
the shared limits, and a flow run refused when its parameters carry the LLM key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.limits import host_of, limit_name
from pipeline.config import Config
from pipeline.errors import ConfigError, IngestFailedError, SourceError
from pipeline.fetch.feeds import FeedItem
from pipeline.run.ingest import (
    IngestSummary,
    Outcome,
    attempts_of,
    idempotency_key,
    ingest_failure,
    record_outcome,
)
from pipeline.run.ledger import Ledger

FEED = "http://127.0.0.1:9/feed.xml"
ENTRY = FeedItem(
    source=FEED, item="ep-1", guid="ep-1", enclosure="http://127.0.0.1:9/ep1.mp3",
    title="Episode 1",
)  # fmt: skip


def test_idempotency_key_is_one_per_item_attempt_and_crash_retry() -> None:
    key = idempotency_key(FEED, ENTRY, 0)
    assert key == idempotency_key(FEED, ENTRY.model_copy(), 0)  # a doubled ingestion
    assert key.startswith("podpost-item-") and key.endswith("-0-0")
    others = {
        idempotency_key(FEED, ENTRY, 1),  # a failed attempt counted by the ledger
        idempotency_key(FEED, ENTRY, 0, retry=1),  # a new run after a crash
        idempotency_key(FEED, ENTRY.model_copy(update={"guid": "ep-2"}), 0),
        idempotency_key(FEED, ENTRY.model_copy(update={"enclosure": "http://h/x.mp3"}), 0),
        idempotency_key(FEED + "?other", ENTRY, 0),
    }
    assert key not in others and len(others) == 5


def test_an_ingestion_records_a_failure_only_where_the_run_recorded_nothing(
    tmp_path: Path,
) -> None:
    config = Config(data_dir=tmp_path)
    ledger = Ledger.of(config)
    assert attempts_of(config, FEED, ENTRY.guid) == 0

    # the run was marked Crashed, yet it had written its draft and recorded done
    ledger.record(FEED, ENTRY.guid, source=FEED, title="Episode 1", state="done",
                  episode_id="abc", enclosure=ENTRY.enclosure)  # fmt: skip
    outcome = record_outcome(config, FEED, ENTRY, error=SourceError("crashed"), attempts=0)
    assert (outcome.state, outcome.error) == ("failed", "crashed")
    [row] = ledger.items(FEED).values()
    assert (row.state, row.attempts, row.episode_id) == ("done", 1, "abc")

    # the run recorded its own failure: the ingestion does not count it twice
    other = ENTRY.model_copy(update={"guid": "ep-2", "item": "ep-2"})
    ledger.record(FEED, "ep-2", source=FEED, title="Episode 2", state="failed", error="LLM 401")
    record_outcome(config, FEED, other, error=SourceError("flow run x ended Failed"), attempts=0)
    row = ledger.items(FEED)["ep-2"]
    assert (row.state, row.error, row.attempts) == ("failed", "LLM 401", 1)

    # the run never recorded its end (it crashed): the ingestion does
    third = ENTRY.model_copy(update={"guid": "ep-3", "item": "ep-3"})
    record_outcome(config, FEED, third, error=SourceError("still Running after 60 s"), attempts=0)
    row = ledger.items(FEED)["ep-3"]
    assert (row.state, row.error, row.attempts) == ("failed", "still Running after 60 s", 1)


def test_a_failed_ingestion_names_each_failed_item() -> None:
    summary = IngestSummary(FEED)
    assert ingest_failure(summary) is None
    summary.outcomes += [
        Outcome("a", "Episode A", "new", draft="drafts/a.md", episode_id="a"),
        Outcome("b", "Episode B", "failed", error="the LLM answered 401"),
        Outcome("c", "", "failed", error="flow run x is still Running after 60 s"),
        Outcome("d", "Episode D", "done-before"),
    ]
    error = ingest_failure(summary)
    assert isinstance(error, IngestFailedError)
    assert error.one_line() == (
        "2 of 3 items failed: Episode B (the LLM answered 401); c (flow run x is still "
        "Running after 60 s); each is recorded in the ledger; the next ingestion retries it "
        "(`podpost status` shows why)"
    )
    assert error.summary["failed"] == 2 and error.exit_code == 1


def test_shared_limits_are_named_per_host() -> None:
    assert host_of("https://user:pw@API.Example.com/v1") == "api.example.com"
    assert host_of("http://127.0.0.1:8080/feed.xml") == "127.0.0.1:8080"
    assert host_of("/home/ada/episode.mp3") is None
    assert host_of("file:///tmp/a.mp3") is None
    assert limit_name("llm-rate", "api.example.com") == "podpost-llm-rate-api.example.com"


def test_a_key_in_the_flow_parameters_is_refused() -> None:
    from flows.episode import flow_config

    with pytest.raises(ConfigError) as caught:
        flow_config({"llm": {"api_key": "sk-secret"}}, None)
    assert "sk-secret" not in str(caught.value)
    assert str(caught.value) == (
        "an LLM API key was given as a flow parameter, which Prefect stores in its "
        "database; give each worker OPENAI_API_KEY (or a podpost.toml), or save the key "
        "in a Prefect Secret block named podpost-llm-api-key"
    )
