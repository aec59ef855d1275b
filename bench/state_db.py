"""The state database's costs: first open (migrations), a run record's save and load, a
ledger write, a lease's take and release, and importing an older release's data folder.

Prints one line per measurement for the database at ``--url`` (default: a new SQLite file
in a temporary folder). For PostgreSQL pass an empty database's URL, e.g.
``postgresql+psycopg://podpost@127.0.0.1:5432/bench`` (the bench creates its tables; run it
on a fresh database each time). Asserts nothing; the numbers are in BENCHMARKS.md.

Usage: .venv/bin/python bench/state_db.py [--url URL] [--episodes 1000] [--ops 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _legacy_folder(data: Path, episodes: int) -> None:
    """A data folder as the last release left it: ``episodes`` run.json files, as many
    ledger items and draft records."""
    from pipeline.db import schema

    with sqlite3.connect(data / "ledger.sqlite3") as old:
        cols = [c.name for c in schema.items.columns]
        old.execute(f"CREATE TABLE items ({', '.join(cols)}, PRIMARY KEY (feed, item))")
        old.execute("CREATE TABLE sources (source, episode_id, updated)")
        old.executemany(
            f"INSERT INTO items VALUES ({', '.join('?' * len(cols))})",
            [
                ("feed", f"g{i}", "feed", f"T{i}", f"ep-{i}", "done", None, 1, "2026", None)
                for i in range(episodes)
            ],
        )
    old.close()
    (data / "drafts").mkdir()
    for i in range(episodes):
        folder = data / "episodes" / f"ep-{i}"
        folder.mkdir(parents=True)
        steps = {s: {"key": "k" * 24, "finished_at": "2026", "seconds": 1.0, "outputs": {}}
                 for s in ("fetch", "transcribe", "turns", "editorial", "render")}  # fmt: skip
        (folder / "run.json").write_text(json.dumps({
            "episode_id": f"ep-{i}", "source": "feed", "state": "done", "title": f"T{i}",
            "draft_path": str(data / "drafts" / f"ep-{i}.md"), "steps": steps,
        }))  # fmt: skip
        (data / "drafts" / f"ep-{i}.meta.json").write_text(
            json.dumps({"episode_id": f"ep-{i}", "generated_sha256": "0" * 64})
        )


def main() -> None:
    """Run every measurement and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--ops", type=int, default=300)
    args = parser.parse_args()

    from pipeline.config import Config
    from pipeline.db import import_legacy, lease, open_state, open_url
    from pipeline.run.ledger import Ledger
    from pipeline.run.state import RunState, StepDone, load_state, save_state

    work = Path(tempfile.mkdtemp(prefix="podpost-bench-state-"))
    try:
        config = Config(data_dir=work / "data", state={"url": args.url} if args.url else {})
        started = time.perf_counter()
        db = open_state(config)
        print(f"{db.dialect}: first open (migrate to head): {time.perf_counter() - started:.3f} s")
        started = time.perf_counter()
        for _ in range(args.ops):
            open_state(config)
        print(f"  later open_state: {(time.perf_counter() - started) / args.ops * 1e6:.1f} us")

        state = RunState(episode_id="ep", source="https://example.com/feed.xml", title="T")
        for step in ("fetch", "transcribe", "turns", "editorial", "render"):
            state.steps[step] = StepDone(key="k" * 24, finished_at="2026", outputs={"a": "b" * 64})
        started = time.perf_counter()
        for i in range(args.ops):
            state.tokens = i
            save_state(db, state)
        save = (time.perf_counter() - started) / args.ops
        started = time.perf_counter()
        for _ in range(args.ops):
            load_state(db, "ep")
        load = (time.perf_counter() - started) / args.ops
        print(f"  run record save: {save * 1e3:.2f} ms, load: {load * 1e3:.2f} ms")

        ledger = Ledger(db)
        started = time.perf_counter()
        for i in range(args.ops):
            ledger.record("feed", f"i{i}", source="feed", title="T", state="done", episode_id="e")
        print(f"  ledger item write: {(time.perf_counter() - started) / args.ops * 1e3:.2f} ms")

        holder = lease.new_holder()
        started = time.perf_counter()
        for i in range(args.ops):
            lease.acquire(db, f"episode:{i}", holder)
            lease.release(db, f"episode:{i}", holder)
        took = (time.perf_counter() - started) / args.ops
        print(f"  lease take + release: {took * 1e3:.2f} ms")

        data = work / "legacy"
        data.mkdir()
        _legacy_folder(data, args.episodes)
        target = open_url(f"sqlite:///{work / 'import.sqlite3'}") if args.url is None else db
        started = time.perf_counter()
        report = import_legacy(target, data, data / "drafts")
        print(
            f"  import of an older data folder ({args.episodes} episodes, "
            f"{sum(report.rows.values())} rows): {time.perf_counter() - started:.2f} s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
