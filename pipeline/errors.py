"""The errors podpost raises on purpose.

Every message says what went wrong *and* what to do about it, in one line, so the CLI
can print it as is. Third-party exceptions are translated at the boundary where they
happen and chained with ``raise ... from e`` so the traceback stays available in logs.
"""

from __future__ import annotations


class PodpostError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return " ".join(text.split())


class UsageError(PodpostError):
    """The user asked for something that cannot work as asked (bad file, bad option)."""

    exit_code = 2


class InputFileError(UsageError):
    """A file the user gave is missing, unreadable, not UTF-8, or not valid JSON/YAML."""


class PostFormatError(InputFileError):
    """A post file does not follow FORMAT.md; ``line`` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None, hint: str | None = None):
        self.line = line
        super().__init__(message, hint=hint)


class ConfigError(UsageError):
    """The configuration is invalid or names something that does not exist."""


class UnknownBackendError(ConfigError):
    """A backend name that is not in its registry; the message lists the valid ones."""


class MissingDependencyError(ConfigError):
    """An optional extra or credential is missing; the message says what to install or set."""


class SourceError(PodpostError):
    """An episode source cannot be fetched (404, private, no media, no such feed item...)."""

    exit_code = 3


class TransientError(PodpostError):
    """A failure worth retrying (network hiccup, 429, 5xx, timeout)."""

    exit_code = 4


class TranscriptionError(PodpostError):
    exit_code = 5


class LLMError(PodpostError):
    """The LLM endpoint failed in a way retries cannot fix (auth, unknown model, refusal)."""

    exit_code = 6


class DraftConflictError(PodpostError):
    """Writing would overwrite a human edit or a different file, or another run holds the lock."""

    exit_code = 7
