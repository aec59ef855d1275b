"""Issue 21's "Done when", for real: three workers that share no folder.

One `prefect server start` (with its services: the automations need them), a process work
pool, `prefect deploy --all` from a folder that is not the checkout, the zombie automation
of flows/automations.yaml, and three `prefect worker start` processes, each a "machine" of
its own: its own HOME, PREFECT_HOME, data folder, config file and working folder. All they
share is what several machines would: the Prefect API, the state database
(PODPOST_STATE__URL: PostgreSQL) and the storage (PODPOST_STORAGE__URL: S3 on moto), the
media server and the fake LLM on loopback, which count every request.

1. Two runs of one episode at once (its download held until both run): one download,
   one draft, both runs Completed (Done when 4).
2. A 10-item feed through the ingest deployment; one item's worker is SIGKILLed (its
   whole process group, and the flow process) while that item's captions download is
   held: the automation marks the silent run Crashed, the ingestion starts the item
   again, and another worker finishes it without downloading it again. 10 drafts; each
   item's media fetched once and its captions once (twice for the killed one, whose
   transcription never finished); each item translated once: the fake LLM saw exactly 11
   times what one episode costs (Done when 1 and 2).
3. `podpost status` from a fourth environment sees all 11 episodes and their drafts
   (Done when 3), and a second ingestion starts nothing: no run, no request.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flows.limits import host_of, limit_name
from tests.fixtures.flows import (
    LINES,
    REPO,
    PrefectServer,
    base_env,
    publish_show,
    run_cli,
    write_config,
)

pytestmark = pytest.mark.slow

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
# The automation's silence before a run is marked Crashed: flows/automations.yaml says 90 s
# (three missed heartbeats); here 45 s (Prefect's shortest heartbeat is 30 s) keeps the
# test short.
SILENCE_SECONDS = 45


@pytest.fixture(scope="module")
def prefect_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    server = PrefectServer(tmp_path_factory.mktemp("prefect-services"), services=True)
    yield server
    server.stop()


@pytest.fixture
def shared_settings(pg_url: str, s3_server: Any) -> dict[str, str]:
    """What every machine shares besides the Prefect API: the state database (a new
    PostgreSQL database) and the storage (a new bucket on the moto S3 server)."""
    bucket = s3_server.bucket()
    return {"PODPOST_STATE__URL": pg_url, **s3_server.env(f"s3://{bucket}/podpost")}


def _prefect(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Pool:
    """The Prefect API as the test reads it."""

    def __init__(self, api: str) -> None:
        self.api = api

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.api}/{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def runs(self, deployment_id: str) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.api}/flow_runs/filter",
            json={
                "flow_runs": {"deployment_id": {"any_": [deployment_id]}},
                "sort": "EXPECTED_START_TIME_ASC",
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def wait(
        self, what: str, check: Callable[[], Any], timeout: float = 300, every: float = 1.0
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"{what}: not within {timeout:g} s")


class Machine:
    """One worker with its own home, Prefect home, data folder and config."""

    def __init__(self, root: Path, number: int, api: str, llm_url: str, shared: dict[str, str]):
        self.name = f"machine-{number}"
        self.home = root / self.name
        self.home.mkdir(parents=True)
        config = write_config(self.home / "podpost.toml", llm_url, diarize={"backend": "none"})
        self.env = {
            **base_env(self.home / ".prefect"),
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "PREFECT_API_URL": api,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PODPOST_DATA_DIR": str(self.home / "data"),
            "PODPOST_CONFIG": str(config),
            **shared,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start_worker(self) -> None:
        """One flow run at a time: a SIGKILLed machine takes only the run it was killed in."""
        log = (self.home / "worker.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", "podpost",
             "--name", self.name, "--limit", "1"],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILLed as one
        )  # fmt: skip

    def owns(self, pid: int) -> bool:
        """Whether ``pid`` is this worker or one of its descendants."""
        while pid > 1 and self.proc is not None:
            if pid == self.proc.pid:
                return True
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _pid(run: dict[str, Any]) -> int:
    """The flow process of a run a process worker started (``infrastructure_pid`` is
    ``host:pid``)."""
    return int(str(run["infrastructure_pid"]).rsplit(":", 1)[-1])


def _llm_counts(fake_llm: Any) -> Counter[str]:
    return Counter(r["task"] for r in fake_llm.requests())


def test_three_machines_without_a_shared_folder(
    tmp_path: Path,
    media_server: Any,
    audio: Any,
    fake_llm: Any,
    prefect_services: PrefectServer,
    shared_settings: dict[str, str],
) -> None:
    api = prefect_services.api_url
    pool = Pool(api)
    machines = [Machine(tmp_path, n, api, fake_llm.base_url, shared_settings) for n in (1, 2, 3)]
    # a fourth environment: the editor's laptop, and the folder `prefect deploy` runs in
    editor = Machine(tmp_path, 4, api, fake_llm.base_url, shared_settings)

    _prefect(["work-pool", "create", "podpost", "--type", "process"], editor.env, editor.home)
    _prefect(["--no-prompt", "deploy", "--all", "--prefect-file", str(REPO / "prefect.yaml")],
             editor.env, editor.home)  # fmt: skip
    episode = pool.get("deployments/name/episode/episode")
    ingest = pool.get("deployments/name/ingest/ingest")
    # nothing names the deploying machine's folders: module entrypoints, no pull steps
    assert (episode["entrypoint"], ingest["entrypoint"]) == (
        "flows.episode:episode_flow",
        "flows.ingest:ingest_flow",
    )
    assert episode["pull_steps"] == [] and str(tmp_path) not in json.dumps(episode)
    assert ingest["global_concurrency_limit"]["limit"] == 1
    assert ingest["concurrency_options"]["collision_strategy"] == "ENQUEUE"

    automations = yaml.safe_load((REPO / "flows" / "automations.yaml").read_text())
    [zombie] = automations["automations"]
    assert zombie["trigger"]["within"] == 90
    zombie["trigger"]["within"] = SILENCE_SECONDS
    _prefect(["automation", "create", "--from-json", json.dumps(zombie)], editor.env, editor.home)

    for machine in machines:
        machine.start_worker()
    try:
        _race(pool, episode, machines, media_server, audio)
        one_episode = _llm_counts(fake_llm)
        assert one_episode["translate"] > 1  # several chunks: a real count to multiply
        _ingest_with_a_dead_machine(pool, episode, ingest, machines, editor, media_server, audio)
    finally:
        for machine in machines:
            machine.stop()

    # every item translated once: 11 episodes cost 11 times what one costs
    assert _llm_counts(fake_llm) == Counter({t: 11 * n for t, n in one_episode.items()})

    # the workers took their slots from the pool's shared limits, and gave them all back
    response = httpx.post(f"{api}/v2/concurrency_limits/filter", json={}, timeout=10)
    limits = {lim["name"]: lim for lim in response.json()}
    llm, media = host_of(fake_llm.base_url), host_of(media_server.base_url)
    assert llm is not None and media is not None
    held = [limit_name("llm", llm), limit_name("media", media)]
    rates = [limit_name("llm-rate", llm), limit_name("media-rate", media)]
    assert [limits[name]["active_slots"] for name in held] == [0, 0]
    assert all(limits[name]["slot_decay_per_second"] > 0 for name in rates)


def _race(pool: Pool, episode: dict, machines: list[Machine], media_server: Any, audio: Any):
    """Two runs of one episode at once: one download, one draft, both Completed."""
    show = publish_show(media_server, audio, "race", items=1, lines=LINES[:4])
    held = media_server.hold(show.audio_names[0])
    editor_env = machines[0].env
    for _ in range(2):
        _prefect(["deployment", "run", "episode/episode", "--param", f"source={show.feed_url}",
                  "--param", f"item={show.guids[0]}", "--param", "wait=true"],
                 editor_env, machines[0].home)  # fmt: skip
    pool.wait(
        "both runs running, one of them downloading",
        lambda: (
            media_server.hits(show.audio_names[0]) >= 1
            and [r["state_type"] for r in pool.runs(episode["id"])] == ["RUNNING", "RUNNING"]
        ),
        timeout=180,
    )
    held.set()
    runs = pool.wait(
        "both race runs final",
        lambda: (
            (rs := pool.runs(episode["id"])) and all(r["state_type"] in FINAL for r in rs) and rs
        ),
    )
    assert [r["state_type"] for r in runs] == ["COMPLETED", "COMPLETED"], runs
    assert media_server.hits(show.audio_names[0]) == 1
    assert media_server.hits(show.vtt_names[0]) == 1


def _ingest_with_a_dead_machine(
    pool: Pool,
    episode: dict,
    ingest: dict,
    machines: list[Machine],
    editor: Machine,
    media_server: Any,
    audio: Any,
) -> None:
    feed = publish_show(media_server, audio, "ten", items=10, lines=LINES[:4])
    victim = feed.guids[4]
    victim_vtt = feed.vtt_names[4]
    held = media_server.hold(victim_vtt)
    before = {r["id"] for r in pool.runs(episode["id"])}
    _prefect(["deployment", "run", "ingest/ingest", "--param", f"feed={feed.feed_url}"],
             editor.env, editor.home)  # fmt: skip

    def victim_runs() -> list[dict[str, Any]]:
        return [
            r for r in pool.runs(episode["id"])
            if r["id"] not in before and r["parameters"].get("item") == victim
        ]  # fmt: skip

    # the victim's transcription is under way: its captions download has reached the server
    [run] = pool.wait(
        "the victim transcribing",
        lambda: (
            media_server.hits(victim_vtt) >= 1
            and (rs := victim_runs())
            and rs[0]["state_type"] == "RUNNING"
            and rs[0]["infrastructure_pid"]
            and rs
        ),
        timeout=300,
    )
    flow_pid = _pid(run)
    [dead] = [m for m in machines if m.owns(flow_pid)]
    assert dead.proc is not None
    os.killpg(dead.proc.pid, signal.SIGKILL)  # the machine is gone: worker and flow
    with_flow = [flow_pid]
    for pid in with_flow:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    dead.proc.wait()
    killed_at = time.monotonic()
    threading.Timer(1.0, held.set).start()  # the killed download's socket closes first

    ingest_runs = pool.wait(
        "the ingestion final",
        lambda: (rs := pool.runs(ingest["id"])) and rs[0]["state_type"] in FINAL and rs,
        timeout=600,
    )
    assert ingest_runs[0]["state_type"] == "COMPLETED", ingest_runs[0]["state"]
    runs = victim_runs()
    assert [r["state_type"] for r in runs] == ["CRASHED", "COMPLETED"], runs
    finished = pool.get(f"flow_runs/{runs[1]['id']}")
    assert time.monotonic() - killed_at < 300
    assert not dead.owns(_pid(finished))

    # each item downloaded once; captions once, the victim's twice (its first
    # transcription never finished): no finished step was repeated
    assert [media_server.hits(name) for name in feed.audio_names] == [1] * 10
    assert [media_server.hits(name) for name in feed.vtt_names] == [1] * 4 + [2] + [1] * 5
    new = [r for r in pool.runs(episode["id"]) if r["id"] not in before]
    assert sorted(r["state_type"] for r in new) == ["COMPLETED"] * 10 + ["CRASHED"]

    # the editor's machine sees every episode and its draft
    done = run_cli(["status", "--json"], env=editor.env, cwd=editor.home)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 11
    assert {r["state"] for r in rows} == {"done"} and all(r["draft"] for r in rows)

    # the ledger, in the shared database, says every item is done
    from pipeline.config import Config
    from pipeline.run.ledger import Ledger

    state = Config.model_validate(
        {"data_dir": str(editor.home / "data"), "state": {"url": editor.env["PODPOST_STATE__URL"]}}
    )
    items = Ledger.of(state).items(feed.feed_url)
    assert sorted(items) == sorted(feed.guids)
    assert {row.state for row in items.values()} == {"done"}

    # a second ingestion starts nothing: no episode run, no download
    hits = dict(media_server.counts)
    runs_before = len(pool.runs(episode["id"]))
    _prefect(["deployment", "run", "ingest/ingest", "--param", f"feed={feed.feed_url}"],
             editor.env, editor.home)  # fmt: skip
    second = pool.wait(
        "the second ingestion final",
        lambda: (rs := pool.runs(ingest["id"])) and len(rs) == 2
        and rs[1]["state_type"] in FINAL and rs,
    )  # fmt: skip
    assert second[1]["state_type"] == "COMPLETED", second[1]["state"]
    assert len(pool.runs(episode["id"])) == runs_before
    feed_xml = "/" + feed.feed_url.split("/", 3)[3]
    assert {k: v for k, v in media_server.counts.items() if k != feed_xml} == {
        k: v for k, v in hits.items() if k != feed_xml
    }
