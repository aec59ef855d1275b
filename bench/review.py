"""Review's per-turn checks and quality signal, and the circuit breaker, by the numbers.

Prints: the time `review_post` (every flag) and `turn_quality` take on a 400-turn post,
the time the preview page takes to render a post with one turn 5,000x its original, and
the requests the fake LLM server serves for 40 turns when it never answers validly, with
the breaker at its default and off. Asserts nothing; results in BENCHMARKS.md.

Usage: .venv/bin/python bench/review.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _post(turns: int):  # type: ignore[no-untyped-def]
    from pipeline.models import FrontMatter, Post, PostTurn, Section
    from tests.editorial_data import make_turns

    source = make_turns(turns, seed=3)
    post_turns = [
        PostTurn(
            speaker=t.speaker,
            translation=["我们在这里讨论了模型，" * max(1, len(t.text) // 33) + f"共{i}次。"],
            original=t.text,
        )
        for i, t in enumerate(source.turns)
    ]
    front = FrontMatter.model_validate(
        {
            "title": "t",
            "summary": "s",
            "author": "a",
            "speaker": "a",
            "source": "https://x/y",
            "date": "2026-01-01",
            "category": "ai-ml",
            "area": "research",
            "people": ["Pavel Izmailov"],
        }
    )
    return Post(front=front, sections=[Section(heading="h", turns=post_turns)])


def checks() -> None:
    from pipeline.review.checks import review_post
    from pipeline.review.quality import TurnContext, turn_quality

    post = _post(400)
    context = TurnContext("zh-CN", (("superalignment", "超级对齐"),))
    started = time.perf_counter()
    flags = review_post(post, context=context)
    middle = time.perf_counter()
    turn_quality(post, context)
    done = time.perf_counter()
    print(f"400 turns: review_post {1000 * (middle - started):.0f} ms ({len(flags)} flags), "
          f"turn_quality {1000 * (done - middle):.0f} ms")  # fmt: skip


def page() -> None:
    from pipeline.post.render import render_post
    from pipeline.review.flags import review_text
    from pipeline.review.page import render_page
    from tests.fixtures.review import clean_post

    data = clean_post().model_dump()
    data["sections"][0]["turns"][1]["translation"] = ["谢谢邀请，很高兴来到这里。" * 17_700]
    text = render_post(type(clean_post()).model_validate(data))
    started = time.perf_counter()
    review = review_text(text, path=Path("bench.md"))
    render_page(review)
    print(f"preview page with a 5,000x turn ({len(text):,} characters): "
          f"{time.perf_counter() - started:.2f} s")  # fmt: skip


def breaker() -> None:
    from pipeline.config import Config, LLMConfig
    from pipeline.editorial import build_post
    from pipeline.llm import OpenAIClient
    from pipeline.testing.fakellm import FakeLLM, FakeReply
    from pipeline.testing.fakellm.server import FakeServer
    from tests.editorial_data import make_episode, make_turns

    for limit in (LLMConfig().max_invalid_requests, 0):
        with FakeServer(FakeLLM()) as server:
            for task in ("analysis", "analysis_reduce", "translate"):
                server.fake.handle(task, lambda request: FakeReply.malformed())
            llm = LLMConfig(base_url=server.base_url, api_key="k", model="fake-model",
                            max_invalid_requests=limit)  # fmt: skip
            with tempfile.TemporaryDirectory() as folder:
                config = Config(data_dir=Path(folder), llm=llm)
                client = OpenAIClient(config.llm, sleep=lambda s: None)
                result = build_post(make_episode(), make_turns(40), config, client, None)
            served = server.fake.requests()
        print(f"40 turns, nothing valid, max_invalid_requests={limit}: {len(served)} requests, "
              f"{len(result.failures)} failed turns")  # fmt: skip


if __name__ == "__main__":
    checks()
    page()
    breaker()
