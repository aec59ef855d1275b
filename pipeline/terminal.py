"""What reaches a terminal: text from outside shown, never obeyed.

    printable(text, newlines=False) -> str     # the one sanitizer
    guarded_streams() -> context manager       # stdout/stderr through it, never crashing

Feed titles, speaker names, file names and error text come from people podpost does not
know. Written raw, ``ESC [ 2 J`` clears an editor's screen, an OSC sequence
(``ESC ] 0 ; ... BEL``) retitles the window or writes a clickable link, and a right-to-left
override (U+202E) makes text read differently than it is. :func:`printable` shows every
such character as an escape instead: C0 controls as ``\\x1b`` (tab and, when asked, the
newline stay), DEL, C1 controls (U+0080 to U+009F), line and paragraph separators
(U+2028, U+2029) and the bidirectional embeddings, overrides and isolates (U+202A to
U+202E, U+2066 to U+2069) as ``\\u009b``. Every escape it writes is also a valid JSON string
escape, so JSON printed through it (``--json``) parses to the same values.

:func:`guarded_streams` is the doors' one place for it: while a command runs, every text
written to ``sys.stdout`` and ``sys.stderr`` (``typer.echo``, ``print``, logging's
last-resort handler, Python warnings) passes :func:`printable`, and a character the
terminal's encoding cannot show becomes a backslash escape instead of a
``UnicodeEncodeError`` (``PYTHONIOENCODING=ascii``). Bytes written to ``sys.stdout.buffer``
(a post rendered to stdout, byte for byte) are data, not messages, and pass unchanged.
The guard lets colour and style sequences (SGR, ``ESC [ ... m``) through, since click and
typer style their own help; the doors pass every text they print through
:func:`printable` first (``pipeline.cli.common.say``), which escapes those too.
Rich consoles need their own escape sequences (colours, bars): they write to
:func:`raw` of a stream, so every string podpost gives rich passes :func:`printable`
where it is made (progress lines, the ``status`` and ``ingest`` tables), as a
:class:`rich.text.Text`, so that rich markup in a title (``[bold]``) prints literally too.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# C0 (less tab and newline), DEL, C1, U+2028/2029, the bidi embeddings/overrides/isolates
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEP_NEWLINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


_SGR = re.compile("\x1b\\[[0-9;:]*m")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with every control character shown escaped (see the module docstring):
    ``"a\\x1b[2Jb"`` becomes ``"a\\\\x1b[2Jb"``. ``newlines`` keeps ``\\n`` as a line end (for
    whole messages); a value (a title, a name) has its newlines escaped too, so it stays
    on its line."""
    pattern = _UNSAFE_KEEP_NEWLINES if newlines else _UNSAFE
    return pattern.sub(_escape, text)


def _styles_kept(text: str) -> str:
    """:func:`printable` (newlines kept), except colour and style sequences (SGR,
    ``ESC [ ... m``), which pass: the stream guard's rule, since click and typer style
    their own help and messages. Text from outside never relies on it: the doors pass
    it through :func:`printable` first, which escapes SGR too."""
    out, last = [], 0
    for match in _SGR.finditer(text):
        out.append(printable(text[last : match.start()], newlines=True))
        out.append(match.group())
        last = match.end()
    out.append(printable(text[last:], newlines=True))
    return "".join(out)


class GuardedStream:
    """A text stream that writes :func:`printable` text (newlines kept) to ``raw``.

    It claims UTF-8 as its ``encoding`` so that click writes through it instead of
    around it (click replaces a stream whose encoding is ASCII with a wrapper of its
    binary buffer); ``raw`` itself encodes, with ``errors="backslashreplace"``.
    """

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    @property
    def encoding(self) -> str:
        """Always ``utf-8``: what may be written to it (see the class docstring)."""
        return "utf-8"

    @property
    def errors(self) -> str:
        """``backslashreplace``: nothing written fails to encode."""
        return "backslashreplace"

    def write(self, text: str) -> int:
        """Write ``text`` with its control characters escaped; returns ``len(text)``."""
        self.raw.write(_styles_kept(text) if "\x1b" in text else printable(text, newlines=True))
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each of ``lines`` as :meth:`write` does."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, buffer, ...
        return getattr(self.raw, name)


def raw(stream: TextIO) -> TextIO:
    """The stream under a :class:`GuardedStream` (for rich, whose text podpost makes safe
    itself), else ``stream``."""
    return stream.raw if isinstance(stream, GuardedStream) else stream


def _never_fails(stream: TextIO) -> None:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        # a closed or detached stream: nothing to configure
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors="backslashreplace")


@contextmanager
def guarded_streams() -> Iterator[None]:
    """While the block runs, ``sys.stdout`` and ``sys.stderr`` are :class:`GuardedStream`
    s over the streams there now, reconfigured never to fail on an unencodable
    character; the originals come back after."""
    before = sys.stdout, sys.stderr
    for stream in before:
        _never_fails(stream)
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout)
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = before
