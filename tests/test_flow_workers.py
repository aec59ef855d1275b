"""`prefect deploy` of prefect.yaml, two `prefect worker start`, four episodes each run once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.flows import LINES, REPO, PrefectServer, publish_show, write_config


def _prefect(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _flow_runs(api: str, deployment_id: str) -> list[dict]:
    response = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def _wait_final(api: str, deployment_id: str, count: int, timeout: float = 600) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _flow_runs(api, deployment_id)
        final = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
        if len(runs) == count and len(final) == count:
            return runs
        time.sleep(2)
    raise AssertionError(f"{count} runs of {deployment_id} did not finish: {runs}")


@pytest.mark.slow
def test_two_workers_run_four_deployed_episodes_each_exactly_once(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api: PrefectServer
) -> None:
    show = publish_show(media_server, audio, "workers", items=4, lines=LINES[:2])
    feed = publish_show(media_server, audio, "workers-feed", items=4, lines=LINES[:2])
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    data = tmp_path / "data"  # "shared storage": every worker sees the same data directory
    env = {
        **prefect_api.client_env(),
        "PODPOST_DATA_DIR": str(data),
        "PODPOST_CONFIG": str(config),
    }
    _prefect(["work-pool", "create", "podpost", "--type", "process"], env)
    _prefect(["--no-prompt", "deploy", "--all"], env)
    deployment = httpx.get(f"{prefect_api.api_url}/deployments/name/episode/episode").json()
    assert deployment["entrypoint"] == "flows.episode:episode_flow"
    assert deployment["work_pool_name"] == "podpost"

    workers = []
    for number in (1, 2):
        log = (tmp_path / f"worker{number}.log").open("wb")
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    "podpost",
                    "--name",
                    f"worker-{number}",
                    "--limit",
                    "2",
                ],
                env=env,
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for guid in show.guids:
            _prefect(
                ["deployment", "run", "episode/episode", "--param", f"source={show.feed_url}",
                 "--param", f"item={guid}"],
                env,
            )  # fmt: skip
        runs = _wait_final(prefect_api.api_url, deployment["id"], 4)

        # the deployed ingestion turns a feed's items into runs of the episode deployment
        ingest = httpx.get(f"{prefect_api.api_url}/deployments/name/ingest/ingest").json()
        assert ingest["parameters"] == {"episode_deployment": "episode/episode"}
        _prefect(["deployment", "run", "ingest/ingest", "--param", f"feed={feed.feed_url}"], env)
        [ingest_run] = _wait_final(prefect_api.api_url, ingest["id"], 1)
        runs_after = _wait_final(prefect_api.api_url, deployment["id"], 8)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    assert [r["state_type"] for r in runs] == ["COMPLETED"] * 4, [r["state"] for r in runs]
    assert [r["run_count"] for r in runs] == [1, 1, 1, 1]
    # each episode fetched once, drafted once
    assert len({media_server.hits(name) for name in show.audio_names}) == 1
    logs = [(tmp_path / f"worker{n}.log").read_text() for n in (1, 2)]
    # A worker may race another for a run; the server aborts the loser's submission, so
    # each run starts on exactly one worker: 4 episodes, 1 ingestion, its 4 episodes.
    started = [log.count("submitted to infrastructure") for log in logs]
    assert sum(started) == 9, logs

    assert ingest_run["state_type"] == "COMPLETED", ingest_run["state"]
    assert [r["state_type"] for r in runs_after] == ["COMPLETED"] * 8
    assert [r["run_count"] for r in runs_after] == [1] * 8
    children = [r for r in runs_after if r["parameters"]["source"] == feed.feed_url]
    assert sorted(r["parameters"]["item"] for r in children) == sorted(feed.guids)
    assert len({media_server.hits(name) for name in feed.audio_names}) == 1
    assert len(list((data / "drafts").glob("*.md"))) == 8
