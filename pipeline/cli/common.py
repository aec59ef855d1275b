"""What every command shares: building the one Config from the global options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from pipeline.config import Config, deep_merge, load_config
from pipeline.terminal import printable
from pipeline.transcribe.backends import ASR_BACKENDS


@dataclass(frozen=True)
class Settings:
    """The global options (``--config``, ``--data-dir``), kept on the typer context's root."""

    config_path: str | None = None
    data_dir: str | None = None

    def config(self, **overrides: Any) -> Config:
        """The entry point is the one place that reads ``os.environ``."""
        base: dict[str, Any] = {"data_dir": self.data_dir}
        return load_config(
            Path(self.config_path) if self.config_path else None,
            env=os.environ,
            overrides=deep_merge(base, overrides),
        )


def settings(ctx: typer.Context) -> Settings:
    """The :class:`Settings` on ``ctx``'s root context; the defaults when none was set there
    (a command app invoked without the root callback)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def one_of(names: list[str]) -> str:
    """``["a", "b", "c"]`` as ``a, b or c`` (for a help text)."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# Every registered ASR backend, so the help of --backend cannot drift from the registry.
ASR_BACKEND_NAMES = one_of(ASR_BACKENDS.names())


def say(message: str = "", *, err: bool = False) -> None:
    """``typer.echo`` of ``message`` through the one sanitizer
    (:func:`pipeline.terminal.printable`, newlines kept): every line a command prints may
    quote a title, a name, a file name or a server's answer."""
    typer.echo(printable(message, newlines=True), err=err)
