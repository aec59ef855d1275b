"""``podpost turns EPISODE_DIR``: diarize, cut into turns, name the speakers, write turns.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pipeline import store
from pipeline.cli.common import settings
from pipeline.config import Config
from pipeline.errors import InputFileError, LLMError
from pipeline.models import Episode, Transcript, Turns


def _llm_client(config: Config) -> Any:
    """The LLM client for naming, or None (heuristic naming) when none is configured."""
    from pipeline.llm import make_client

    try:
        return make_client(config.llm)
    except LLMError as e:
        typer.echo(f"note: naming speakers without an LLM ({e.message})", err=True)
        return None


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
    @app.command()
    def turns(
        ctx: typer.Context,
        episode_dir: Path = typer.Argument(..., help="An episode folder with a transcript."),
        speakers: str | None = typer.Option(
            None,
            "--speakers",
            help='Names in order of first appearance, e.g. "Matt Turck,Pavel Izmailov".',
        ),
        num_speakers: int | None = typer.Option(
            None, "--num-speakers", min=1, help="How many people speak (default: estimated)."
        ),
        diarizer: str | None = typer.Option(
            None, "--diarizer", help="builtin, pyannote or none (config: diarize.backend)."
        ),
        no_llm: bool = typer.Option(
            False, "--no-llm", help="Name speakers without the LLM (heuristic only)."
        ),
    ) -> None:
        """Split the transcript into speaker turns and name the speakers (writes turns.json)."""
        from pipeline.turns.diarize import DIARIZERS
        from pipeline.turns.segment import build_turns, caption_speakers

        names = [n.strip() for n in speakers.split(",") if n.strip()] if speakers else None
        config = settings(ctx).config(
            diarize={"num_speakers": num_speakers, "backend": diarizer},
            turns={"speakers": names},
        )
        if not (episode_dir / store.EPISODE_FILE).is_file():
            raise InputFileError(
                f"{episode_dir} is not an episode folder (no {store.EPISODE_FILE})",
                hint="pass a folder that `podpost fetch` wrote",
            )
        episode = store.load(episode_dir / store.EPISODE_FILE, Episode)
        transcript = store.load(episode_dir / store.TRANSCRIPT_FILE, Transcript)
        audio = episode_dir / (episode.audio_file or "")
        needs_audio = config.diarize.backend != "none" and caption_speakers(transcript) is None
        if needs_audio and not (episode.audio_file and audio.is_file()):
            raise InputFileError(
                f"{episode_dir} has no audio file to diarize",
                hint="run `podpost fetch` again, or pass --diarizer none",
            )
        # Backend problems (unknown name, missing extra or token) fail before any work.
        backend = DIARIZERS.get(config.diarize.backend)(config.diarize)
        client = None if no_llm else _llm_client(config)
        result = build_turns(
            episode, transcript, config, audio_path=audio, client=client, diarizer=backend
        )
        path = store.save(episode_dir / store.TURNS_FILE, result)
        typer.echo(summary_table(result))
        typer.echo(f"wrote {path}", err=True)
