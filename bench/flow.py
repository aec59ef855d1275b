"""Benchmark the episode flow (issue 6, item 6). Prints numbers; asserts nothing.

1. Overhead: the same episode through ``episode_flow`` (Prefect tasks, run state, artifacts)
   and through the same steps called directly (``run_episode(direct=True)``), each in a
   fresh data directory, ``--repeat`` times, alternating. Prints the median seconds of each,
   the difference and the ratio. The first flow (Prefect's temporary server starting) is a
   warm-up and reported apart.
2. Resume: a run whose last step (render) fails on a broken template, then a rerun with the
   template fixed; prints the rerun's time as a share of a full run's.
3. The whole ``podpost run`` command on a finished episode with no Prefect server configured
   (interpreter start, imports, Prefect's temporary server, every step skipped).

The episode: espeak-ng speech served by a loopback media server as a feed item with a
human-made VTT (captions backend), builtin diarization, and the fake LLM server answering
every request after ``--llm-delay`` seconds. Everything is on 127.0.0.1.

Usage: .venv/bin/python bench/flow.py [--repeat 3] [--llm-delay 0.05] [--lines 12]
Without PREFECT_API_URL it uses Prefect's temporary local server (PREFECT_HOME in a temp dir).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = [
    ("en-us", "Welcome back to Loopback Radio, where we talk about software that runs itself."),
    ("en-gb", "Thanks for having me. I spend my days keeping data pipelines alive."),
    ("en-us", "What breaks most often when a pipeline runs every single night?"),
    ("en-gb", "The network, mostly. A download stops halfway, or a service answers slowly."),
    ("en-us", "And when that happens, do you start again from the beginning?"),
    ("en-gb", "Never. Every step writes its result, and the rerun skips what is finished."),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--llm-delay", type=float, default=0.05)
    parser.add_argument("--lines", type=int, default=12, help="spoken lines in the episode")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="podpost-bench-flow-"))
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    from flows.prefect_setup import quiet_defaults

    quiet_defaults(os.environ)

    from flows.episode import episode_flow, flow_config
    from pipeline.errors import PodpostError
    from pipeline.run.episode import run_episode
    from pipeline.run.progress import Reporter
    from pipeline.testing.fakellm import FakeLLM, FakeServer
    from tests.fixtures.flows import captions_vtt, write_config
    from tests.fixtures.media import AudioFactory, MediaServer, rss_feed

    lines = [SENTENCES[i % len(SENTENCES)] for i in range(args.lines)]
    for folder in ("audio", "served"):
        (work / folder).mkdir()
    audio = AudioFactory(work / "audio")
    media = MediaServer(work / "served")
    mp3 = audio.speech(lines, fmt="mp3", gap=0.4)
    media.put("ep.mp3", mp3)
    media.put("ep.vtt", captions_vtt(audio, lines))
    feed = rss_feed(
        "Loopback Radio",
        [{"title": "Keeping pipelines alive", "guid": "bench-1",
          "enclosure": media.url("ep.mp3"), "transcripts": [(media.url("ep.vtt"), "text/vtt")]}],
    )  # fmt: skip
    source = media.put("feed.xml", feed)
    print(f"episode: {audio.duration(mp3):.1f} s of speech, {len(lines)} lines")

    quiet = Reporter(stream=open(os.devnull, "w"), terminal=False)  # noqa: SIM115
    with FakeServer(FakeLLM(delay=args.llm_delay)) as llm:
        good = write_config(work / "good.toml", llm.base_url)
        template = work / "broken.md.j2"
        template.write_text("{{ no_such_value }}\n")
        broken = write_config(work / "broken.toml", llm.base_url, post={"template": str(template)})

        counter = iter(range(10_000))

        def overrides() -> dict:
            return {"data_dir": str(work / f"data-{next(counter)}")}

        def flow_run(config_path: Path = good, data: dict | None = None) -> float:
            started = time.perf_counter()
            episode_flow(source=source, overrides=data or overrides(), config_path=str(config_path))
            return time.perf_counter() - started

        def direct_run() -> float:
            config = flow_config(overrides(), str(good))
            started = time.perf_counter()
            run_episode(source, config, report=quiet)
            return time.perf_counter() - started

        from flows.prefect_setup import command_line_run

        command_line = command_line_run()
        command_line.__enter__()  # as `podpost run` does: no heartbeat thread to wait for
        warm = flow_run()
        direct_run()  # warm the imports the steps load on first use
        flows, directs = [], []
        for _ in range(args.repeat):
            flows.append(flow_run())
            directs.append(direct_run())
        f, d = statistics.median(flows), statistics.median(directs)
        print(f"first flow run (Prefect's temporary server starting): {warm:.2f} s")
        print(f"flow:   median {f:.2f} s  ({', '.join(f'{x:.2f}' for x in flows)})")
        print(f"direct: median {d:.2f} s  ({', '.join(f'{x:.2f}' for x in directs)})")
        print(f"overhead: {f - d:+.2f} s per episode, ratio flow/direct = {f / d:.2f}")

        shares = []
        for _ in range(args.repeat):
            data = overrides()
            full = flow_run(good, overrides())
            try:
                flow_run(broken, data)
            except PodpostError:
                pass
            else:
                raise SystemExit("the broken template did not fail the render step")
            resumed = flow_run(good, data)
            shares.append(resumed / full)
            print(f"resume after a render failure: {resumed:.2f} s vs full {full:.2f} s")
        print(f"resumed run / full run: median {statistics.median(shares):.1%}")

        # The whole command on a finished episode: interpreter, imports, Prefect's temporary
        # server (none configured), every step skipped.
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        command = [sys.executable, "-m", "pipeline", "--config", str(good)]
        command += ["--data-dir", data["data_dir"], "run", source]
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, cwd=ROOT)
        print(f"`podpost run` on a finished episode, embedded server: "
              f"{time.perf_counter() - started:.2f} s")  # fmt: skip
    media.close()


if __name__ == "__main__":
    main()
