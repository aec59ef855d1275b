"""``podpost turns EPISODE_DIR``: diarize, cut into turns, name the speakers, write turns.json."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from pipeline import store
from pipeline.cli.common import say, settings

if TYPE_CHECKING:
    from pipeline.models import Turns


def _minutes(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def summary_table(turns: Turns) -> str:
    """Speaker, turns, talk time; unknown speakers are flagged for review."""
    rows = [("speaker", "turns", "talk time", "named by")]
    for speaker in turns.speakers:
        own = [t for t in turns.turns if t.speaker == speaker.name]
        flag = speaker.source if speaker.known else "unknown: review"
        talk = sum(t.end - t.start for t in own)
        rows.append((speaker.name, str(len(own)), _minutes(talk), flag))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i in (1, 2) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def register(app: typer.Typer) -> None:
    """Add ``podpost turns`` to ``app``."""

    @app.command()
    def turns(
        ctx: typer.Context,
        episode: str = typer.Argument(
            ..., help="An episode folder with a transcript, or its episode id."
        ),
        speakers: str | None = typer.Option(
            None,
            "--speakers",
            help='Names in order of first appearance, e.g. "Matt Turck,Pavel Izmailov".',
        ),
        num_speakers: int | None = typer.Option(
            None, "--num-speakers", min=1, help="How many people speak (default: estimated)."
        ),
        min_speakers: int | None = typer.Option(
            None, "--min-speakers", min=1, help="At least this many speak (count estimated)."
        ),
        max_speakers: int | None = typer.Option(
            None, "--max-speakers", min=1, help="At most this many speak (count estimated)."
        ),
        diarizer: str | None = typer.Option(
            None, "--diarizer", help="builtin, pyannote or none (config: diarize.backend)."
        ),
        no_llm: bool = typer.Option(
            False, "--no-llm", help="Name speakers without the LLM (heuristic only)."
        ),
    ) -> None:
        """Split the transcript into speaker turns and name the speakers (writes turns.json)."""
        from pipeline.run import commands  # diarization loads numpy and friends

        names = [n.strip() for n in speakers.split(",") if n.strip()] if speakers else None
        flags = {
            "diarize": {
                "num_speakers": num_speakers,
                "min_speakers": min_speakers,
                "max_speakers": max_speakers,
                "backend": diarizer,
            },
            "turns": {"speakers": names},
        }
        config = settings(ctx).config(**flags)
        folder, result = commands.turns(
            config,
            episode,
            use_llm=not no_llm,
            overrides=flags,
            note=lambda line: say(line, err=True),
        )
        path = folder / store.TURNS_FILE
        say(summary_table(result))
        say(f"wrote {path}", err=True)
