"""The system programs podpost runs (ffmpeg, ffprobe): spawning them, and saying how to
install them when they are missing.

A missing program surfaces in Python as ``FileNotFoundError`` from ``subprocess``, which
reads like a missing *input* file; :func:`run_tool` turns it into a
:class:`MissingDependencyError` that names the program and the package that has it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.errors import MissingDependencyError

# program -> (what podpost needs it for, the package that installs it)
PROGRAMS = {
    "ffmpeg": ("to decode audio", "ffmpeg"),
    "ffprobe": ("to read media files", "ffmpeg"),
}
REQUIRED = ("ffmpeg", "ffprobe")


def missing_tool(program: str) -> MissingDependencyError:
    """The one-line error for ``program`` not being on ``PATH``."""
    purpose, package = PROGRAMS.get(program, ("to run", program))
    return MissingDependencyError.program(program, purpose, package=package)


def run_tool(command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(command, **kwargs)``; a missing ``command[0]`` raises
    :class:`MissingDependencyError` (chained) instead of ``FileNotFoundError``."""
    try:
        return subprocess.run(list(command), **kwargs)
    except FileNotFoundError as e:
        if e.filename not in (None, command[0]):
            raise  # a missing cwd or similar, not the program
        raise missing_tool(command[0]) from e


def require_tools(
    programs: Sequence[str] = REQUIRED, *, which: Callable[[str], str | None] = shutil.which
) -> None:
    """Raise :class:`MissingDependencyError` for the first of ``programs`` not on PATH."""
    for program in programs:
        if which(program) is None:
            raise missing_tool(program)
