"""One retry budget per boundary: a persistent LLM 500 is retried by podpost's LLM client
alone, never again by a Prefect task, so with the default ``[llm] max_retries`` the whole
run costs at most 8 requests (counted by the fake server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.episode import TASKS
from pipeline.config import LLMConfig
from pipeline.testing.fakellm import FakeReply
from tests.fixtures.flows import LINES, publish_show, run_cli, status_rows, write_config

TASK_NAMES = ("speaker_names", "analysis", "analysis_reduce", "translate")


def test_flow_tasks_leave_retries_to_the_library() -> None:
    assert {name: t.retries for name, t in TASKS.items()} == dict.fromkeys(
        ("fetch", "transcribe", "turns", "editorial", "render"), 0
    )


@pytest.mark.slow
def test_a_persistent_500_costs_at_most_8_requests(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "budget", lines=LINES[:2])
    # the default retry count; only the waits are shortened (they do not change counts)
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, llm={"max_retries": None})
    for task in TASK_NAMES:
        fake_llm.handle(task, lambda _request: FakeReply.server_error(500))
    data = tmp_path / "data"
    failed = run_cli(
        ["--config", str(config), "--data-dir", str(data), "run", show.feed_url],
        env=prefect_api.client_env(),
    )
    assert failed.returncode == 6, failed.stderr
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("error: the LLM endpoint") and "500" in last, last
    served = fake_llm.requests()
    # the first call's requests, then the run ends: naming does not fall back on a 500
    assert len(served) == LLMConfig().max_retries + 1 <= 8, [r["task"] for r in served]
    [row] = status_rows(data)
    assert (row["state"], row["step"]) == ("failed", "turns")
