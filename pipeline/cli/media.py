"""``podpost fetch`` and ``podpost transcribe``: parse, call the library, print where it wrote."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from pipeline import store
from pipeline.cli.common import settings
from pipeline.config import Config
from pipeline.fetch.core import ProgressHook, fetch_episode
from pipeline.models import Episode
from pipeline.transcribe.step import load_episode_dir, transcribe_episode


@contextmanager
def download_progress(enabled: bool) -> Iterator[ProgressHook | None]:
    """A rich progress bar fed by yt-dlp's progress hook, on a terminal only."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress("[progress.description]{task.description}", *columns, transient=True) as bar:
        task = bar.add_task("downloading", total=None)

        def hook(status: dict[str, Any]) -> None:
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            done = status.get("downloaded_bytes") or 0
            bar.update(task, completed=done, total=total)
            if status.get("status") == "finished":
                bar.update(task, completed=total or done, total=total or done)

        yield hook


def _fetch(source: str, config: Config, item: str | None) -> tuple[Episode, Path]:
    folder = Path(source)
    if folder.is_dir() and (folder / store.EPISODE_FILE).is_file():
        return load_episode_dir(folder)
    with download_progress(config.fetch.progress) as hook:
        episode = fetch_episode(source, config, item=item, progress=hook)
    return episode, store.episode_dir(config, episode.id)


def register(app: typer.Typer) -> None:
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
        config = settings(ctx).config()
        episode, folder = _fetch(source, config, item)
        typer.echo(f"{episode.title or episode.id}: {folder / store.EPISODE_FILE}")
        typer.echo(f"audio: {folder / str(episode.audio_file)}")

    @app.command()
    def transcribe(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="An episode folder, or a source to fetch first."),
        backend: str | None = typer.Option(
            None, "--backend", help="whisper, captions or auto (config: asr.backend)."
        ),
        model: str | None = typer.Option(
            None, "--model", help="Whisper model name or checkpoint path (config: asr.model)."
        ),
        language: str | None = typer.Option(
            None, "--language", help="Spoken language, e.g. en (default: from the metadata)."
        ),
        item: str | None = typer.Option(None, "--item", help="Feed item, when SOURCE is a feed."),
    ) -> None:
        """Write the episode's timed transcript (transcript.json)."""
        asr = {"backend": backend, "model": model, "language": language}
        config = settings(ctx).config(asr=asr)
        episode, folder = _fetch(source, config, item)
        transcript = transcribe_episode(episode, folder, config)
        path = folder / store.TRANSCRIPT_FILE
        if not transcript.segments:
            typer.echo(f"no speech found in {episode.title or episode.id}; wrote an empty "
                       f"transcript: {path}", err=True)  # fmt: skip
        typer.echo(
            f"{len(transcript.segments)} segments ({transcript.backend}, "
            f"{transcript.language}): {path}"
        )
