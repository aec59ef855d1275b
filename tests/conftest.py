"""Shared fixtures live in tests/fixtures/*; each area registers its module here."""

pytest_plugins = [
    "tests.fixtures.media",
    "tests.fixtures.whisper_model",
    "tests.fixtures.real_whisper",
    "tests.fixtures.interview",
    "tests.fixtures.llm",
    "tests.fixtures.review",
    "tests.fixtures.flows",
    "tests.pg",
    "tests.s3server",
]
