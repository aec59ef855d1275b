"""Deployments on a real `prefect server start` (loopback): the schedule, and workers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.ingest import deployment_name
from tests.fixtures.flows import REPO, PrefectServer, base_env, default_sigint, run_cli


def _deployment(api: str, flow: str, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{api}/deployments/name/{flow}/{name}", timeout=5)
        if response.status_code == 200:
            return response.json()
        time.sleep(0.5)
    raise AssertionError(f"deployment {flow}/{name} never appeared")


@pytest.mark.slow
def test_schedule_registers_the_ingest_deployment_with_its_cron(
    prefect_api: PrefectServer, tmp_path: Path
) -> None:
    feed = "http://127.0.0.1:9/feed.xml"  # never fetched: the schedule is only registered
    command = [sys.executable, "-m", "pipeline", "--data-dir", str(tmp_path / "data")]
    command += ["schedule", feed, "--cron", "0 6 * * *", "--limit", "3"]
    proc = subprocess.Popen(
        command,
        preexec_fn=default_sigint,  # a real Ctrl-C, whatever the suite inherited
        env=prefect_api.client_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deployment = _deployment(prefect_api.api_url, "ingest", deployment_name(feed))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    [schedule] = deployment["schedules"]
    assert schedule["schedule"]["cron"] == "0 6 * * *"
    assert schedule["active"] is True
    assert deployment["parameters"]["feed"] == feed
    assert deployment["parameters"]["limit"] == 3
    assert deployment["parameters"]["overrides"] == {"data_dir": str(tmp_path / "data")}


def test_schedule_rejects_a_bad_cron_in_one_line(tmp_path: Path) -> None:
    done = run_cli(["schedule", "http://127.0.0.1:9/f", "--cron", "every day"],
                   env=base_env(tmp_path))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "error: --cron 'every day' is not a cron expression; e.g. \"0 6 * * *\"\n"


def test_unreachable_prefect_api_is_one_line(tmp_path: Path, fake_llm) -> None:
    env = {
        **base_env(tmp_path),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
        "OPENAI_BASE_URL": fake_llm.base_url,  # the LLM preflight passes; Prefect does not
        "OPENAI_API_KEY": "k",
    }
    done = run_cli(["--data-dir", str(tmp_path), "run", "http://127.0.0.1:9/a.mp3"], env=env)
    assert done.returncode == 4
    assert done.stderr.startswith(
        "error: the Prefect API at http://127.0.0.1:9/api does not answer (ConnectError); "
        "start it with `prefect server start`"
    )
    assert done.stderr.count("\n") == 1 and done.stdout == ""
