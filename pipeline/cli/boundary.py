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

from pipeline.errors import PodpostError, RunInterruptedError
from pipeline.tools import PROGRAMS, missing_tool

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NETWORK = 4
EXIT_INTERRUPTED = 130
DEBUG_HINT = "rerun with --debug (or PODPOST_DEBUG=1) for the traceback"


def is_usage_error(e: BaseException) -> bool:
    """A click usage error (bad option, missing argument, unknown command), whether typer
    uses click itself (< 0.26) or its vendored copy (``typer._click``)."""
    return any(
        cls.__name__ == "ClickException" and cls.__module__.split(".")[0] in ("click", "typer")
        for cls in type(e).__mro__
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe(e: BaseException) -> tuple[str, int]:
    """(one line without the ``error:`` prefix, exit code) for an exception no command
    handled. PodpostErrors carry both; a few common foreign ones are translated here."""
    if isinstance(e, PodpostError):
        return e.one_line(), e.exit_code
    if isinstance(e, FileNotFoundError) and e.filename in PROGRAMS:
        return missing_tool(str(e.filename)).one_line(), EXIT_USAGE
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror}{where}", EXIT_FAILED
    if isinstance(e, MemoryError):
        return "out of memory; close other programs or use a smaller [asr] model", EXIT_FAILED
    if _is_http_error(e):
        detail = _first_line(str(e)) or type(e).__name__
        return (
            f"a request to the Prefect API failed ({detail}); check that the server "
            "answers (PREFECT_API_URL) and rerun: finished steps are kept",
            EXIT_NETWORK,
        )
    detail = _first_line(str(e))
    return (
        f"unexpected {type(e).__name__}{': ' + detail if detail else ''}; {DEBUG_HINT}",
        EXIT_FAILED,
    )


def _is_http_error(e: BaseException) -> bool:
    """httpx errors reach the boundary only from Prefect's client: podpost's own requests
    translate theirs where they happen."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        return False
    return isinstance(e, httpx.HTTPError)


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
