"""What the store costs: local (the default) against S3 (moto's server on loopback).

For an episode folder shaped like a real one (episode.json, a transcript, turns, the
editorial cache's chunks, the summary, the post, run.json, and an audio file of
``--audio-mb`` MiB), prints the wall time of each store operation a run or an editor
makes: a step's upload (first, then again with nothing changed), a second machine's pull
of the whole episode, ``status``'s pull of every record for ``--episodes`` episodes, and a
review-page save (conditional PutObject). With the default (no ``[storage] url``) every
one is a no-op; its cost is printed too. Moto runs in this process, so the S3 numbers are
an upper bound on podpost's own share and say nothing of a real network. Asserts nothing.

Usage: .venv/bin/python bench/storage.py [--audio-mb 20] [--episodes 50] [--chunks 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _episode(root: Path, episode_id: str, *, audio_mb: int, chunks: int) -> None:
    folder = root / "episodes" / episode_id
    (folder / "editorial").mkdir(parents=True)
    segments = [{"start": i, "end": i + 1, "text": "word " * 12} for i in range(1500)]
    (folder / "episode.json").write_text(json.dumps({"id": episode_id, "title": "t"}))
    (folder / "transcript.json").write_text(json.dumps({"segments": segments}))
    (folder / "turns.json").write_text(json.dumps({"turns": segments[:300]}))
    for n in range(chunks):
        (folder / "editorial" / f"translate-{n}.json").write_text(json.dumps(segments[:20]))
    for name in ("editorial.json", "post.json", "run.json"):
        (folder / name).write_text(json.dumps({"name": name, "turns": segments[:300]}))
    if audio_mb:
        (folder / "audio.mp3").write_bytes(os.urandom(audio_mb * 1024 * 1024))


def _timed(label: str, action: Callable[[], object], repeat: int = 1) -> None:
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    seconds = (time.perf_counter() - started) / repeat
    shown = f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1000:.1f} ms"
    print(f"  {label:<58} {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio-mb", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=40)
    args = parser.parse_args()

    from pipeline.store import Store
    from tests.s3server import CREDENTIALS, start_s3_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.update(CREDENTIALS)  # boto reads them itself
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    s3 = start_s3_server()
    try:
        bucket = s3.bucket()
        url = f"s3://{bucket}/podpost"
        options = {"endpoint_url": s3.endpoint}
        local = Store(work / "local")
        _episode(local.root, "ep-0", audio_mb=args.audio_mb, chunks=args.chunks)
        size = sum(p.stat().st_size for p in (local.root / "episodes/ep-0").rglob("*"))
        files = sum(1 for p in (local.root / "episodes/ep-0").rglob("*") if p.is_file())
        print(f"one episode: {files} files, {size / 2**20:.1f} MiB ({args.audio_mb} MiB audio)")

        print("default storage (the data folder): every call is a no-op")
        _timed("push_episode", lambda: local.push_episode("ep-0"), repeat=1000)
        _timed("pull_episode", lambda: local.pull_episode("ep-0"), repeat=1000)
        _timed("pull_records", local.pull_records, repeat=1000)

        print(f"S3 (moto server on loopback), {url}")
        one = Store(work / "one", url, options)
        _episode(one.root, "ep-0", audio_mb=args.audio_mb, chunks=args.chunks)
        _timed("push_episode: a whole episode, first upload", lambda: one.push_episode("ep-0"))
        _timed("push_episode: nothing changed since", lambda: one.push_episode("ep-0"))
        (one.root / "episodes/ep-0/run.json").write_text('{"changed": true}')
        _timed("push_episode: one small file changed", lambda: one.push_episode("ep-0"))
        two = Store(work / "two", url, options)
        _timed(
            "pull_episode on another machine: the whole episode", lambda: two.pull_episode("ep-0")
        )
        _timed("pull_episode again (audio kept: same size)", lambda: two.pull_episode("ep-0"))
        for n in range(1, args.episodes):
            _episode(one.root, f"ep-{n}", audio_mb=0, chunks=args.chunks)
            one.push_episode(f"ep-{n}")
        three = Store(work / "three", url, options)
        _timed(f"pull_records ({args.episodes} episodes: status/review)", three.pull_records)
        _timed("pull_records again, nothing changed", three.pull_records)
        draft = one.root / "drafts" / "ep-0.md"
        draft.parent.mkdir(parents=True)
        draft.write_text("---\ntitle: x\n---\n" + "text\n" * 2000)
        one.push_draft(draft)
        version = one.version(draft)

        def save() -> None:
            nonlocal version
            assert one.put_if_version(draft, draft.read_bytes() + b"x\n", version)
            version = one.version(draft)

        _timed("review save: conditional PutObject + new ETag", save, repeat=20)
    finally:
        s3.server.stop()


if __name__ == "__main__":
    main()
