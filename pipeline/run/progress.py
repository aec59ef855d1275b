"""What a run says while it works: step lines, and bars on a terminal.

On a terminal, long steps (download, transcription, translation chunks) get a rich progress
bar; elsewhere (logs, CI, a worker) the same events are plain lines, a bar's at every
quarter, and always its 100% line when the work it measures finished. A door may add a
``log`` sink: the flows send every line to Prefect's run logger too, so the Prefect UI
shows the same story.

Stages warn through :mod:`logging` (a caption cue skipped, a cue's end moved, no speech
found). On its own a step command shows those through Python's last-resort handler, but
inside a Prefect run the root logger has Prefect's console handler, quiet by default, so
they vanished. :func:`relay_warnings` hands them to a callable instead (the run's
:meth:`Reporter.warn`, a command's ``warning:`` line), each record once.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.terminal import printable, raw


class Reporter:
    """Step lines and progress bars on ``stream`` (default stderr); thread-safe.

    ``terminal`` (default: whether ``stream`` is a TTY) chooses rich bars over plain lines;
    ``log`` also receives every line (e.g. a Prefect run logger's ``info``).
    """

    def __init__(
        self,
        prefix: str = "",
        stream: TextIO | None = None,
        terminal: bool | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.log = log
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        # rich writes its own escape sequences (bars): it gets the stream under the CLI's
        # guard, and every line given to it passes printable() here
        self.console = Console(file=raw(self.stream), highlight=False, soft_wrap=True)
        self.prefix = prefix
        self._lock = threading.Lock()

    def line(self, message: str) -> None:
        """One line of progress (prefixed), its control characters shown escaped (a
        title or file name in it comes from outside: :func:`pipeline.terminal.printable`)."""
        text = printable(f"{self.prefix}{message}")
        with self._lock:
            if self.terminal:
                self.console.print(text, markup=False)
            else:
                print(text, file=self.stream, flush=True)
        if self.log is not None:
            self.log(text)

    def warn(self, message: str) -> None:
        """``warning: <message>`` (a stage's warning, see :func:`relay_warnings`)."""
        self.line(f"warning: {message}")

    def skip(self, step: str, why: str = "finished before, kept") -> None:
        """``<step>: finished before, kept``."""
        self.line(f"{step}: {why}")

    def start(self, step: str, detail: str = "") -> None:
        """``<step>: <detail>`` as a step begins."""
        self.line(f"{step}: {detail or 'running'}")

    def done(self, step: str, seconds: float, detail: str = "") -> None:
        """``<step>: done in <seconds>s (<detail>)``."""
        self.line(f"{step}: done in {seconds:.1f}s" + (f" ({detail})" if detail else ""))

    @contextmanager
    def bar(
        self, label: str, total: float | None
    ) -> Iterator[Callable[[float, float | None], None]]:
        """Yields ``update(completed, total=None)``; safe to call from several threads."""
        if self.terminal:
            progress = Progress(
                TextColumn(printable(f"{self.prefix}{label}"), markup=False),
                BarColumn(),
                MofNCompleteColumn() if total and total > 1 else TextColumn(""),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            with progress:
                task_id = progress.add_task(label, total=total)

                def update(completed: float, new_total: float | None = None) -> None:
                    progress.update(task_id, completed=completed, total=new_total or total)

                yield update
            return
        quarter_done = 0
        whole = total

        def update_plain(completed: float, new_total: float | None = None) -> None:
            nonlocal quarter_done, whole
            whole = new_total or whole
            if not whole:
                return
            quarter = min(4, int(4 * completed / whole))
            if quarter > quarter_done:
                quarter_done = quarter
                self.line(f"{label}: {25 * quarter}%")

        yield update_plain
        # The work finished (an error skips this): say 100% even when the last report fell
        # short of the estimate (speech ending before the duration ffprobe gave).
        if whole and quarter_done < 4:
            self.line(f"{label}: 100%")


STAGES_LOGGER = "pipeline"  # every stage logs under pipeline.<module>


class _Relay(logging.Handler):
    """Hands WARNING and worse records of one thread to ``warn`` as their message."""

    def __init__(self, warn: Callable[[str], None], thread: int) -> None:
        super().__init__(logging.WARNING)
        self.warn = warn
        self.thread = thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return  # another episode's, in a concurrent ingest: its own relay shows it
        try:
            self.warn(record.getMessage())
        except Exception:  # a warning must never fail the step that logged it
            self.handleError(record)


@contextmanager
def relay_warnings(warn: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, every warning a stage logs (``pipeline.*`` loggers) in this
    thread is passed to ``warn(message)``, once. Work a stage hands to other threads is
    not relayed (no stage warns from one today)."""
    handler = _Relay(warn, threading.get_ident())
    logger = logging.getLogger(STAGES_LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
