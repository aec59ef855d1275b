"""Helpers shared by the post-format tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
REFERENCE = Path(__file__).parent / "reference" / "post.md"  # the blog's real post


def golden_posts() -> list[Path]:
    return sorted(GOLDEN.glob("*.md"))


def podpost(*args: str, stdin: bytes | None = None, cwd: Path | None = None):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        check=False,
    )
