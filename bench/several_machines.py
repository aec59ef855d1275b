"""Benchmark a feed ingested by a pool of workers (issue 21, Done when 6). Prints numbers;
asserts nothing.

A ``--items``-item feed (espeak-ng speech with a human-made VTT, so transcription is the
captions backend) on a loopback media server, the fake LLM answering every request after
``--llm-delay`` seconds, one ``prefect server start``, a process work pool with the
deployments of prefect.yaml, and ``podpost ingest --via-deployment episode/episode`` run
twice: once with one worker, once with three, each worker taking one flow run at a time
(``--limit 1``) and the ingestion keeping ``--concurrency`` runs queued. Each round starts
from empty state. Prints each round's seconds and episodes per minute, and the throughput
ratio (three workers / one).

Every worker is a "machine" of its own (its own HOME, PREFECT_HOME and data folder); they
share the state database and storage named by PODPOST_STATE__URL and PODPOST_STORAGE__URL
when those are set in the environment, else (an approximation of several machines on one)
one shared data folder. All workers run on this machine, so they share its cores: the
ratio shows what the pool overlaps (LLM waits, downloads, process start-up), not what
three machines' CPUs would add.

Usage: .venv/bin/python bench/several_machines.py [--items 50] [--llm-delay 1] [--lines 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prefect(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args], env=env, cwd=cwd, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"prefect {' '.join(args)} failed: {done.stdout}{done.stderr}")


def _round(
    workers: int, *, work: Path, api: str, feed: str, llm_url: str, concurrency: int
) -> dict[str, Any]:
    """One ingestion of ``feed`` with ``workers`` workers, from empty state."""
    from tests.fixtures.flows import base_env, write_config

    root = work / f"round-{workers}"
    shared = {
        k: v for k, v in os.environ.items() if k in ("PODPOST_STATE__URL", "PODPOST_STORAGE__URL")
    }
    if not shared:  # one machine standing in for several: a shared data folder
        shared = {"PODPOST_DATA_DIR": str(root / "shared-data")}
    envs = []
    for number in range(workers + 1):  # the last one runs the ingestion
        home = root / f"machine-{number}"
        home.mkdir(parents=True)
        config = write_config(home / "podpost.toml", llm_url, diarize={"backend": "none"})
        envs.append(
            {
                **base_env(home / ".prefect"),
                "HOME": str(home),
                "PREFECT_API_URL": api,
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PODPOST_DATA_DIR": str(home / "data"),
                "PODPOST_CONFIG": str(config),
                **shared,
            }
        )
    procs = []
    for number, env in enumerate(envs[:-1]):
        log = (root / f"worker-{number}.log").open("wb")
        procs.append(
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
                    f"bench-{workers}-{number}",
                    "--limit",
                    "1",
                ],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "ingest", feed, "--via-deployment",
             "episode/episode", "--concurrency", str(concurrency), "--json"],
            env=envs[-1], cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.monotonic() - start
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if done.returncode not in (0, 8):
        raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    return {"workers": workers, "seconds": seconds, "new": summary["new"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--llm-delay", type=float, default=1.0)
    parser.add_argument("--lines", type=int, default=4, help="spoken lines per episode")
    parser.add_argument("--concurrency", type=int, default=6, help="runs the ingest queues")
    args = parser.parse_args()

    from pipeline.testing.fakellm import FakeLLM, FakeServer
    from tests.fixtures.flows import LINES, PrefectServer, base_env, publish_show
    from tests.fixtures.media import AudioFactory, MediaServer

    work = Path(tempfile.mkdtemp(prefix="podpost-bench-machines-"))
    for folder in ("media", "audio"):
        (work / folder).mkdir()
    media = MediaServer(work / "media")
    audio = AudioFactory(work / "audio")
    lines = (LINES * (args.lines // len(LINES) + 1))[: args.lines]
    fake = FakeLLM(delay=args.llm_delay)
    results = []
    with FakeServer(fake) as llm:
        for workers in (1, 3):
            (work / f"prefect-{workers}").mkdir()
            server = PrefectServer(work / f"prefect-{workers}", services=True)
            try:
                env = {**base_env(server.home), "PREFECT_API_URL": server.api_url}
                _prefect(["work-pool", "create", "podpost", "--type", "process"], env, work)
                _prefect(["--no-prompt", "deploy", "--all", "--prefect-file",
                          str(ROOT / "prefect.yaml")], env, work)  # fmt: skip
                show = publish_show(media, audio, f"bench{workers}", items=args.items, lines=lines)
                fake.clear_log()
                result = _round(
                    workers, work=work, api=server.api_url, feed=show.feed_url,
                    llm_url=llm.base_url, concurrency=args.concurrency,
                )  # fmt: skip
                result["llm_requests"] = len(fake.requests())
                results.append(result)
            finally:
                server.stop()
    media.close()
    print(f"{args.items} items, {args.lines} lines each, LLM answering in {args.llm_delay:g} s, "
          f"ingest --concurrency {args.concurrency}, {os.cpu_count()} cores")  # fmt: skip
    for r in results:
        rate = r["new"] / r["seconds"] * 60
        print(f"{r['workers']} worker(s): {r['seconds']:.1f} s, {r['new']} drafts, "
              f"{r['llm_requests']} LLM requests, {rate:.2f} episodes/min")  # fmt: skip
    one, three = results
    ratio = (three["new"] / three["seconds"]) / (one["new"] / one["seconds"])
    print(f"throughput ratio (3 workers / 1): {ratio:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
