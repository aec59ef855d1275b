"""The errors podpost raises on purpose: one hierarchy, drawn here.

    PodpostError                    exit 1   (retryable: False unless said)
    ├── UsageError                  exit 2   the user asked for something that cannot work
    │   ├── InputFileError                   a file is missing, unreadable, not UTF-8/JSON/YAML
    │   │   └── PostFormatError              a post breaks docs/post-format.md (with its line)
    │   ├── ConfigError                      invalid configuration
    │   │   ├── UnknownBackendError          lists the valid names
    │   │   └── MissingDependencyError       says what to install or set
    │   └── EditError                        a preview edit that would not give a valid post
    │       └── StaleEditError               ... based on a version no longer on disk (409)
    ├── SourceError                 exit 3   an episode source cannot be fetched
    │   └── FetchTooLargeError               a download went over a [fetch] size cap
    ├── NetworkError                exit 4   a host could not be reached (retryable)
    ├── TranscriptionError          exit 5   decoding or ASR failed
    ├── LLMError                    exit 6   the LLM endpoint failed (retryable on 429/5xx)
    │   └── LLMOutputError                   it answered, but not usably (callers may repair)
    │       ├── LLMTruncatedError            the answer was cut off
    │       └── LLMRefusalError              the model refused
    ├── DraftConflictError          exit 7   a human edit, a different file, or a held lock
    │   └── ApprovalRefusedError             a rejected draft, or one with error flags
    ├── NeedsReviewError            exit 8   the draft was written, but turns failed to translate
    ├── RunInterruptedError         exit 130 Ctrl-C stopped a run (says how to finish it)
    └── StorageError                exit 1   podpost's own files or ledger cannot be written/read

``retryable`` is an attribute, not a branch of the tree: whether trying again may help is
independent of what failed, and every retry layer asks ``error.retryable``.

Every message says what went wrong *and* what to do about it, in one line, so the CLI
can print it as is. Third-party exceptions are translated at the boundary where they
happen and chained with ``raise ... from e`` so the traceback stays available in logs.
"""

from __future__ import annotations

import re
from typing import Any

# ``scheme://user:password@``: a password never reaches a message (see pipeline.fetch.urls)
_PASSWORD_IN_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*):[^/@\s]*@")


class PodpostError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with.

    ``message`` says what went wrong, ``hint`` what to do (both one line; ``str(error)``
    joins them); ``retryable`` overrides the class default for this instance.
    """

    exit_code = 1
    retryable = False

    def __init__(
        self, message: str, *, hint: str | None = None, retryable: bool | None = None
    ) -> None:
        self.message = _PASSWORD_IN_URL.sub(r"\1:***@", message)
        self.hint = hint
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``message; hint`` with all whitespace collapsed to single spaces."""
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return _PASSWORD_IN_URL.sub(r"\1:***@", " ".join(text.split()))


class UsageError(PodpostError):
    """The user asked for something that cannot work as asked (bad file, bad option)."""

    exit_code = 2


class InputFileError(UsageError):
    """A file the user gave is missing, unreadable, not UTF-8, or not valid JSON/YAML."""


class PostFormatError(InputFileError):
    """A post file does not follow docs/post-format.md; ``line`` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None, hint: str | None = None):
        self.line = line
        super().__init__(message, hint=hint)


class ConfigError(UsageError):
    """The configuration is invalid or names something that does not exist."""


class UnknownBackendError(ConfigError):
    """A backend name that is not in its registry; the message lists the valid ones."""


class MissingDependencyError(ConfigError):
    """An optional extra or credential is missing; the message says what to install or set."""

    @classmethod
    def program(
        cls, name: str, purpose: str, *, package: str | None = None
    ) -> MissingDependencyError:
        """An external program (``ffmpeg``...) that is not on PATH; ``purpose`` says what
        podpost needs it for, e.g. ``"to decode audio"``; ``package`` installs it when its
        name differs (``ffprobe`` comes with ``ffmpeg``)."""
        return cls(
            f"{name} is not installed; podpost needs it {purpose}",
            hint=f"install it (e.g. `apt-get install {package or name}`) and make sure it "
            "is on PATH",
        )


class SourceError(PodpostError):
    """An episode source cannot be fetched (404, private, no media, no such feed item...)."""

    exit_code = 3


class FetchTooLargeError(SourceError):
    """A download went over a size cap while streaming (a feed, a transcript, media);
    ``setting`` names the cap as ``section.name`` (``fetch.max_feed_bytes``; a bare name is
    in ``[fetch]``), and the message says to raise it."""

    def __init__(self, what: str, *, setting: str, limit: int | float) -> None:
        self.setting = setting
        section, _, name = setting.rpartition(".")
        super().__init__(
            f"{what} is over the limit of {limit / 1e6:.1f} MB",
            hint=f"raise [{section or 'fetch'}] {name} to allow it",
        )


class IngestFailedError(PodpostError):
    """An ingestion ran, and some of its items failed (each recorded in the ledger with its
    error, retried by the next ingestion). ``summary`` is the whole ingestion
    (:meth:`pipeline.run.ingest.IngestSummary.as_dict`), so a door can still print it; a
    Prefect run of the ingest flow ends Failed with the message naming the items."""

    exit_code = 1

    def __init__(self, message: str, summary: dict[str, Any], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.summary = summary


class NetworkError(PodpostError):
    """A host could not be reached, or answered with a temporary failure (429, 5xx, timeout)."""

    exit_code = 4
    retryable = True


class TranscriptionError(PodpostError):
    """Decoding the audio or running the ASR model failed."""

    exit_code = 5


class LLMError(PodpostError):
    """The LLM endpoint failed: auth, unknown model, unreachable; ``retryable`` on 429/5xx."""

    exit_code = 6


class LLMOutputError(LLMError):
    """The endpoint answered, but not with something usable; callers may repair.

    ``usage`` (a :class:`pipeline.llm.Usage`) counts the requests that led here.
    """

    usage: Any = None  # set where raised


class LLMTruncatedError(LLMOutputError):
    """``finish_reason == "length"``: the answer was cut off; ask for less at a time."""


class LLMRefusalError(LLMOutputError):
    """The model refused (a ``refusal`` field or ``finish_reason == "content_filter"``)."""


class DraftConflictError(PodpostError):
    """Writing would overwrite a human edit or a different file, or another run holds the lock."""

    exit_code = 7


class ApprovalRefusedError(DraftConflictError):
    """``podpost approve`` on a draft that was rejected or still has error-level review
    flags; the message says how to reopen or fix it, or to pass ``--override``."""


class NeedsReviewError(PodpostError):
    """The run wrote its draft, but some turns have no translation: not a success.

    ``failed_turns`` is how many; the message names the ``--retry-failed`` command.
    """

    exit_code = 8

    def __init__(self, message: str, *, failed_turns: int, hint: str | None = None) -> None:
        self.failed_turns = failed_turns
        super().__init__(message, hint=hint)


class RunInterruptedError(PodpostError):
    """Ctrl-C stopped a run; the message names the episode (when it had an id yet) and the
    command that finishes it. Finished steps are kept, as after any failure."""

    exit_code = 130


class StorageError(PodpostError):
    """A file, folder or the ledger database that podpost keeps cannot be written or read
    (disk full, permissions, a damaged SQLite file); the message names the path."""


class EditError(UsageError):
    """An edit in the preview that would not give a valid post; ``problems`` are checker lines."""

    def __init__(self, reason: str, problems: list[str] | None = None) -> None:
        self.reason = reason
        self.problems = problems or []
        super().__init__(reason)


class StaleEditError(EditError):
    """An edit based on a version of the draft that is no longer the one on disk (HTTP
    409); ``current`` is the draft's text as it is now, for the editor to choose from."""

    def __init__(self, reason: str, problems: list[str] | None = None, *, current: str) -> None:
        self.current = current
        super().__init__(reason, problems)
