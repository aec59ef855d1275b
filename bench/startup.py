"""How long do commands that run no model take to answer, from a cold process?

Target: `podpost --help`, `podpost status` and `podpost review` under one second on this
machine (2 cores). Each command runs as a user runs it (the installed console script, a
fresh process), against an empty data folder, ``--runs`` times; the median and the worst
wall time are printed, and the median CPU time (user + system) of the process: on a
loaded machine wall time mostly measures the wait for a core, CPU time what the command
itself costs. Python's own start-up is measured too (``python -c pass``), as the floor.

    .venv/bin/python bench/startup.py            # 7 runs each
    .venv/bin/python bench/startup.py --runs 15
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def _cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``."""
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    podpost = str(VENV_BIN / "podpost")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PODPOST_")}
        env["PODPOST_DATA_DIR"] = str(Path(tmp) / "data")
        (Path(tmp) / "data" / "drafts").mkdir(parents=True)  # `review` lists an empty folder
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "podpost --help": [podpost, "--help"],
            "podpost status": [podpost, "status"],
            "podpost review": [podpost, "review"],
        }
        print(
            f"{'command':<18} {'median s':>9} {'worst s':>8} {'CPU s':>7}   ({args.runs} runs each)"
        )
        for name, argv in commands.items():
            _time(argv, env)  # warm the file cache: the first run after an install is slower
            runs = [_time(argv, env) for _ in range(args.runs)]
            walls = [wall for wall, _ in runs]
            cpu = statistics.median(c for _, c in runs)
            print(f"{name:<18} {statistics.median(walls):>9.2f} {max(walls):>8.2f} {cpu:>7.2f}")


if __name__ == "__main__":
    main()
