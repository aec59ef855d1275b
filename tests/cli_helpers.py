"""Running the CLI in-process, as tests of several areas do."""

from __future__ import annotations

from pipeline.cli import main


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``podpost ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
