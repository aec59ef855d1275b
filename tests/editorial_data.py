"""Deterministic English interview transcripts for the editorial tests and benchmark."""

from __future__ import annotations

import datetime as dt
import random

from pipeline.models import Episode, Turn, Turns

HOST, GUEST = "Matt Turk", "Pavel Izmailov"

SENTENCES = [
    "We started working on superalignment at OpenAI in {year}.",
    "I think Anthropic takes a different view of reasoning models.",
    "The paper on epiplexity measures structure that a bounded observer can learn.",
    "Honestly, most of the results came from about {n} experiments.",
    "What surprised me was how quickly the models learned to cheat on the evaluation.",
    "Scalable oversight is the question of how weak supervisors can check strong models.",
    "People at NYU asked me whether reasoning models will replace search.",
    "If you look at AlphaZero, it discovered strategies nobody had written down.",
    "That is why interpretability matters so much for safety.",
    "We ran it on {n} GPUs for roughly {days} days.",
    "The benchmark went from {pct} percent to almost ninety percent in a year.",
    "I would tell a new PhD student to pick problems that other people ignore.",
    "It is a bit like asking a student to grade their own homework.",
    "Some of this is hype, but some of it is real and worth taking seriously.",
]


def sentence(rng: random.Random) -> str:
    return rng.choice(SENTENCES).format(
        year=rng.choice([2023, 2024, 2025]), n=rng.randint(3, 900),
        days=rng.randint(2, 30), pct=rng.randint(10, 60),
    )  # fmt: skip


def make_turns(count: int, *, seed: int = 7, sentences: tuple[int, int] = (1, 6)) -> Turns:
    rng = random.Random(seed)
    turns = []
    clock = 0.0
    for index in range(count):
        speaker = HOST if index % 2 == 0 else GUEST
        text = " ".join(sentence(rng) for _ in range(rng.randint(*sentences)))
        if index == 0:
            text = f"Welcome back, I'm here with {GUEST} from Anthropic. " + text
        length = len(text.split()) / 2.5
        turns.append(Turn(id=index, speaker=speaker, start=clock, end=clock + length, text=text))
        clock += length + 0.5
    return Turns(language="en", turns=turns)


def make_episode() -> Episode:
    return Episode(
        id="youtube-abc123",
        source="https://www.youtube.com/watch?v=abc123",
        kind="ytdlp",
        url="https://www.youtube.com/watch?v=abc123",
        title="Reasoning models and superalignment",
        show="The Example Podcast",
        date=dt.date(2026, 1, 15),
        language="en",
    )
