"""``podpost translate``: the editorial step on one episode folder, writing its draft."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.common import say, settings


def register(app: typer.Typer) -> None:
    """Add ``podpost translate`` to ``app``."""

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
        and an interrupted run resumes where it stopped. `podpost render` then writes the
        draft into the drafts folder.
        """
        from pipeline.run import commands  # the openai SDK costs ~0.5 s to import

        flags = {"editorial": {"target_language": target_language}, "llm": {"model": model}}
        config = settings(ctx).config(**flags)
        done = commands.translate(
            config, episode, output=output, retry_failed=retry_failed, overrides=flags
        )
        result, usage = done.result, done.result.usage
        if done.draft.kept is not None:
            say(done.draft.message, err=True)
        say(
            f"wrote {done.draft.path}: {len(result.post.turns)} turns in "
            f"{len(result.post.sections)} sections; {result.chunks} chunks "
            f"({result.cached_chunks} cached), {usage.requests} requests, "
            f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
        )
        if result.stopped:  # the breaker tripped: one line naming the turns, exit 8
            from pipeline.run.status import check_complete

            numbers = [f.number for f in result.failures]
            check_complete(
                done.folder.name, str(done.draft.path), len(numbers), numbers, result.stopped,
                llm=config.llm,
            )  # fmt: skip
        for failure in result.failures:
            say(f"failed: turn {failure.turn_id} ({failure.speaker}): {failure.reason}")
        if result.failures:
            say("rerun with --retry-failed to ask again for the failed turns only")
