"""The command line's one error boundary: whatever escapes a command becomes one line on
stderr and an exit code; the traceback is shown only when asked for (``--debug`` or
``PODPOST_DEBUG=1``).

Exit codes (docs/operations.md): 0 done, 1 failed (some items of a batch, or an
unexpected error), 2 usage, configuration or a missing program, 3 source, 4 network or
Prefect API, 5 transcription, 6 LLM, 7 conflict or lock, 8 a draft with failed
translations, 130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from typing import IO

from pipeline.errors import RunInterruptedError
from pipeline.faults import EXIT_USAGE, describe
from pipeline.terminal import printable

EXIT_INTERRUPTED = 130


def is_usage_error(e: BaseException) -> bool:
    """A click usage error (bad option, missing argument, unknown command), whether typer
    uses click itself (< 0.26) or its vendored copy (``typer._click``)."""
    return any(
        cls.__name__ == "ClickException" and cls.__module__.split(".")[0] in ("click", "typer")
        for cls in type(e).__mro__
    )


def report(e: BaseException, *, debug: bool, stderr: IO[str] | None = None) -> int:
    """Print ``e`` as the boundary does (traceback first under ``debug``); its exit code."""
    stream = stderr or sys.stderr
    if is_usage_error(e):
        e.show(file=stream)  # type: ignore[attr-defined]
        return int(getattr(e, "exit_code", EXIT_USAGE))
    line, code = describe(e)
    if debug:
        traceback.print_exception(e, file=stream)
    # Ctrl-C is the user's own doing, not an error: the line says what stopped and how
    # to finish it.
    line = printable(line)  # error text often quotes a title, a file name, a server's answer
    print(line if isinstance(e, RunInterruptedError) else f"error: {line}", file=stream)
    return code


def interrupted_run(episode_id: str | None, step: str | None, source: str) -> RunInterruptedError:
    """What a Ctrl-C during ``podpost run`` of ``source`` says: the episode and the command
    that finishes it (``podpost resume ID``), or, before the episode had an id (the fetch),
    the source to run again."""
    if episode_id is None:
        return RunInterruptedError(
            f"interrupted (Ctrl-C) while fetching {source}",
            hint=f"run `podpost run {source}` again to start it",
        )
    during = f" during {step}" if step else ""
    return RunInterruptedError(
        f"interrupted (Ctrl-C){during}: episode {episode_id}",
        hint=f"`podpost resume {episode_id}` finishes it; finished steps are kept",
    )
