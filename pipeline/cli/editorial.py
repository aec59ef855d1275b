"""``podpost translate``: the editorial step on one episode folder, writing its draft."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline import store
from pipeline.cli.common import settings
from pipeline.errors import InputFileError
from pipeline.fsutil import write_atomic
from pipeline.models import Episode, Turns
from pipeline.post.render import load_template, render_post

CACHE_DIR = "editorial"  # inside the episode folder
DRAFT_FILE = "draft.md"


def register(app: typer.Typer) -> None:
    @app.command()
    def translate(
        ctx: typer.Context,
        episode: str = typer.Argument(
            ..., help="Episode folder (with episode.json and turns.json) or episode id."
        ),
        output: Path | None = typer.Option(
            None, "--output", "-o", help="Where to write the draft (default: <folder>/draft.md)."
        ),
        retry_failed: bool = typer.Option(
            False, "--retry-failed", help="Ask again for the turns that failed last time only."
        ),
        target_language: str | None = typer.Option(
            None,
            "--target-language",
            help="Target language code (default: editorial.target_language, zh-CN).",
        ),
        model: str | None = typer.Option(None, "--model", help="LLM model (default: llm.model)."),
    ) -> None:
        """Translate, outline and describe an episode's turns with the LLM; write the draft.

        Finished work is cached in <folder>/editorial/: running again makes no request,
        and an interrupted run resumes where it stopped.
        """
        # Imported here: the openai SDK alone costs ~0.5 s, which every other command would pay.
        from pipeline.editorial import build_post
        from pipeline.editorial.build import RESULT_FILE
        from pipeline.llm import make_client

        config = settings(ctx).config(
            editorial={"target_language": target_language}, llm={"model": model}
        )
        folder = Path(episode)
        if not folder.is_dir():
            folder = store.episode_dir(config, episode)
        if not (folder / store.TURNS_FILE).is_file():
            raise InputFileError(
                f"{folder / store.TURNS_FILE} does not exist",
                hint="give an episode folder made by `podpost turns`, or its episode id",
            )
        meta = store.load(folder / store.EPISODE_FILE, Episode)
        turns = store.load(folder / store.TURNS_FILE, Turns)
        result = build_post(
            meta, turns, config, make_client(config.llm), folder / CACHE_DIR,
            retry_failed=retry_failed,
        )  # fmt: skip
        target = output or folder / DRAFT_FILE
        write_atomic(target, render_post(result.post, load_template(config.post.template)))
        result.save_summary(folder / RESULT_FILE)
        usage = result.usage
        typer.echo(
            f"wrote {target}: {len(result.post.turns)} turns in {len(result.post.sections)} "
            f"sections; {result.chunks} chunks ({result.cached_chunks} cached), "
            f"{usage.requests} requests, {usage.prompt_tokens} prompt + "
            f"{usage.completion_tokens} completion tokens"
        )
        for failure in result.failures:
            typer.echo(f"failed: turn {failure.turn_id} ({failure.speaker}): {failure.reason}")
        if result.failures:
            typer.echo("rerun with --retry-failed to ask again for the failed turns only")
