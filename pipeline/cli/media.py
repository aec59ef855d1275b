"""``podpost fetch`` and ``podpost transcribe``: parse, call the library, print where it wrote."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from pipeline import store
from pipeline.cli.common import ASR_BACKEND_NAMES, say, settings
from pipeline.terminal import raw

if TYPE_CHECKING:  # fetch loads yt-dlp's helpers and feedparser: only when a command runs
    from pipeline.fetch.core import ProgressHook


@contextmanager
def download_progress(enabled: bool) -> Iterator[ProgressHook | None]:
    """A rich progress bar fed by yt-dlp's progress hook, on a terminal only."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    console = Console(file=raw(sys.stderr))  # rich's own escapes: past the CLI's guard
    with Progress(
        "[progress.description]{task.description}", *columns, console=console, transient=True
    ) as bar:
        task = bar.add_task("downloading", total=None)

        def hook(status: dict[str, Any]) -> None:
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            done = status.get("downloaded_bytes") or 0
            bar.update(task, completed=done, total=total)
            if status.get("status") == "finished":
                bar.update(task, completed=total or done, total=total or done)

        yield hook


def register(app: typer.Typer) -> None:
    """Add ``podpost fetch`` and ``podpost transcribe`` to ``app``."""

    @app.command()
    def fetch(
        ctx: typer.Context,
        source: str = typer.Argument(
            ..., help="A URL (any yt-dlp site, a media file, an RSS feed) or a local file."
        ),
        item: str | None = typer.Option(
            None, "--item", help="Feed item: guid, 1-based index or title (default: newest)."
        ),
    ) -> None:
        """Download an episode's audio and metadata into its episode folder."""
        from pipeline.run import commands  # loads every stage: only when a command runs

        config = settings(ctx).config()
        with download_progress(config.fetch.progress) as hook:
            episode, folder = commands.fetch(config, source, item, progress=hook)
        say(f"{episode.title or episode.id}: {folder / store.EPISODE_FILE}")
        say(f"audio: {folder / str(episode.audio_file)}")

    @app.command()
    def transcribe(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="An episode folder, or a source to fetch first."),
        backend: str | None = typer.Option(
            None, "--backend", help=f"{ASR_BACKEND_NAMES} (config: asr.backend)."
        ),
        model: str | None = typer.Option(
            None,
            "--model",
            help="Whisper model name or checkpoint path, or a CTranslate2 folder for "
            "faster-whisper (config: asr.model).",
        ),
        language: str | None = typer.Option(
            None, "--language", help="Spoken language, e.g. en (default: from the metadata)."
        ),
        item: str | None = typer.Option(None, "--item", help="Feed item, when SOURCE is a feed."),
    ) -> None:
        """Write the episode's timed transcript (transcript.json)."""
        from pipeline.run import commands  # loads every stage: only when a command runs
        from pipeline.run.progress import relay_warnings

        flags = {"asr": {"backend": backend, "model": model, "language": language}}
        config = settings(ctx).config(**flags)
        with relay_warnings(lambda message: say(f"warning: {message}", err=True)):
            _, folder, transcript = commands.transcribe(config, source, item, overrides=flags)
        path = folder / store.TRANSCRIPT_FILE  # no speech: the step's warning said so
        say(
            f"{len(transcript.segments)} segments ({transcript.backend}, "
            f"{transcript.language}): {path}"
        )
