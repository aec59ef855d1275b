"""Benchmark of the editorial step on a one-hour-sized transcript (about 10k words).

Prints, per concurrency setting: input tokens / transcript tokens (target <= 2.5), the
number of requests, and wall time / ideal with the fake server answering after a fixed
delay (target <= 1.25). Ideal = delay x (analysis requests + ceil(chunks / concurrency)):
the analysis must finish before translation starts, then chunks run ``max_concurrency`` at
a time. Tokens are the fake server's counts (one per CJK character, one per four other
characters), the same estimator that sizes chunks.

    .venv/bin/python bench/editorial.py [--delay 0.5] [--words 10000] [--concurrency 1 4 8]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Config, LLMConfig
from pipeline.editorial import build_post
from pipeline.llm import OpenAIClient, estimate_tokens
from pipeline.testing.fakellm import FakeLLM, FakeServer
from tests.editorial_data import make_episode, make_turns


def transcript(words: int):
    count = 20
    while True:
        turns = make_turns(count, seed=11, sentences=(1, 12))
        if sum(len(t.text.split()) for t in turns.turns) >= words:
            return turns
        count += 5


def run(turns, delay: float, concurrency: int) -> dict[str, float]:
    with FakeServer(FakeLLM(delay=delay)) as server, tempfile.TemporaryDirectory() as tmp:
        config = Config(
            data_dir=Path(tmp),
            llm=LLMConfig(base_url=server.base_url, api_key="bench", model="fake",
                          max_concurrency=concurrency, timeout=60),
        )  # fmt: skip
        client = OpenAIClient(config.llm)
        started = time.monotonic()
        result = build_post(make_episode(), turns, config, client, Path(tmp) / "cache")
        wall = time.monotonic() - started
        log = server.fake.requests()
        rerun = build_post(make_episode(), turns, config, client, Path(tmp) / "cache")
    analysis = sum(1 for e in log if e["task"].startswith("analysis"))
    ideal = delay * (analysis + math.ceil(result.chunks / concurrency))
    source = sum(estimate_tokens(t.text) for t in turns.turns)
    prompt = sum(e["prompt_tokens"] for e in log)
    return {
        "concurrency": concurrency,
        "chunks": result.chunks,
        "requests": len(log),
        "prompt_tokens": prompt,
        "completion_tokens": sum(e["completion_tokens"] for e in log),
        "input_ratio": prompt / source,
        "wall_s": wall,
        "ideal_s": ideal,
        "wall_over_ideal": wall / ideal if ideal else float("nan"),
        "rerun_requests": rerun.usage.requests,
        "failures": len(result.failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.5, help="fake answer delay, seconds")
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    turns = transcript(args.words)
    words = sum(len(t.text.split()) for t in turns.turns)
    source = sum(estimate_tokens(t.text) for t in turns.turns)
    print(f"transcript: {len(turns.turns)} turns, {words} words, {source} tokens; "
          f"fake delay {args.delay:g}s")  # fmt: skip
    header = ("concurrency", "chunks", "requests", "prompt_tokens", "completion_tokens",
              "input_ratio", "wall_s", "ideal_s", "wall_over_ideal", "rerun_requests",
              "failures")  # fmt: skip
    print(" | ".join(header))
    for concurrency in args.concurrency:
        row = run(turns, args.delay, concurrency)
        print(" | ".join(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k])
                         for k in header))  # fmt: skip


if __name__ == "__main__":
    main()
