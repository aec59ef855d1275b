"""Running the CLI in-process, as tests of several areas do."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import main
from pipeline.config import Config
from pipeline.db import open_state
from pipeline.run.state import RunState, load_state


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``podpost ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_record(folder: Path) -> RunState | None:
    """The run record of the episode in ``folder`` (``<data_dir>/episodes/<id>``), from the
    default state database of that data folder."""
    return load_state(open_state(Config(data_dir=folder.parent.parent)), folder.name)
