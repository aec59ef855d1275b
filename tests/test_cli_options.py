"""What `--help` promises and which option values the command line accepts: the ASR
backends listed are the registry's, the post format is found where a user has it (the
README), and counts below their minimum are usage errors (exit 2) before any work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.post.front import FRONT_KEYS
from pipeline.transcribe.backends import ASR_BACKENDS
from pipeline.turns.diarize import DIARIZERS
from tests.cli_helpers import cli

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def _wide_help(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help on one wide line per option, so a name is never wrapped apart."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("PODPOST_DIARIZE__NUM_SPEAKERS", "PODPOST_LLM__MAX_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)


def _option_help(text: str, option: str) -> str:
    [line] = [line for line in text.splitlines() if f" {option} " in line]
    return line


@pytest.mark.parametrize("command", ["run", "transcribe", "ingest"])
def test_backend_help_lists_every_registered_backend(command, capsys):
    code, out, _err = cli([command, "--help"], capsys)
    assert code == 0
    line = _option_help(out, "--backend")
    assert "faster-whisper" in ASR_BACKENDS.names()
    for name in ASR_BACKENDS.names():  # whole names: "whisper" alone, not in "faster-whisper"
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", line), (name, line)


def test_diarizer_help_lists_every_registered_diarizer(capsys):
    code, out, _err = cli(["turns", "--help"], capsys)
    assert code == 0
    line = _option_help(out, "--diarizer")
    listed = re.search(r"\s(\S+(?:, \S+)* or \S+) \(config", line)
    assert listed is not None, line
    assert sorted(re.split(r", | or ", listed.group(1))) == DIARIZERS.names()


@pytest.mark.parametrize("argv", [["post", "--help"], ["post", "check", "--help"]])
def test_post_help_points_at_what_a_user_has(argv, capsys):
    code, out, _err = cli(argv, capsys)
    assert code == 0
    assert "FORMAT.md" not in out  # the shared spec's name: not in the repository
    if argv == ["post", "--help"]:
        assert "(the format: docs/post-format.md)" in out


def test_readme_post_format_section_lists_the_front_matter_keys_in_order():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## What a draft looks like\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n---\n", 1)[1].split("\n---\n", 1)[0]
    keys = [line.split(":", 1)[0] for line in block.splitlines() if not line.startswith(" ")]
    assert keys == FRONT_KEYS


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["run", "x", "--num-speakers", "0"], "--num-speakers"),
        (["run", "x", "--num-speakers", "-2"], "--num-speakers"),
        (["turns", "x", "--num-speakers", "0"], "--num-speakers"),
        (["run", "x", "--min-speakers", "0"], "--min-speakers"),
        (["turns", "x", "--max-speakers", "0"], "--max-speakers"),
        (["ingest", "x", "--concurrency", "0"], "--concurrency"),
        (["ingest", "x", "--limit", "0"], "--limit"),
        (["schedule", "x", "--cron", "0 6 * * *", "--concurrency", "-1"], "--concurrency"),
        (["schedule", "x", "--cron", "0 6 * * *", "--limit", "0"], "--limit"),
        (["preview", "x", "--port", "-1"], "--port"),
        (["preview", "x", "--port", "70000"], "--port"),
    ],
)
def test_counts_below_their_minimum_are_usage_errors(argv, option, tmp_path, capsys):
    code, out, err = cli(["--data-dir", str(tmp_path), *argv], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"Usage: podpost {argv[0]} ")
    assert f"Invalid value for '{option}'" in err
    assert not list(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("PODPOST_DIARIZE__NUM_SPEAKERS", "diarize.num_speakers"),
        ("PODPOST_LLM__MAX_CONCURRENCY", "llm.max_concurrency"),
    ],
)
def test_counts_below_one_in_the_config_are_refused(
    variable, setting, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(variable, "0")
    code, out, err = cli(["--data-dir", str(tmp_path), "turns", str(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"error: invalid setting {setting}: Input should be greater than or equal to 1 "
        "(from defaults, PODPOST_* or flags); fix or remove that setting\n"
    )
