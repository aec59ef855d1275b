"""`podpost run|resume|render|status|ingest|schedule`: driving whole runs.

Prefect is imported only inside the commands that run a flow, after
``flows.prefect_setup.quiet_defaults`` has set its defaults, so other commands stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from pipeline.cli.common import Settings, settings
from pipeline.config import Config, deep_merge
from pipeline.errors import InputFileError, PodpostError, UsageError
from pipeline.fetch.urls import remember as remember_password
from pipeline.run.state import RUN_FILE, load_state, status

STEP_OPTIONS = "Options override the config file for this run; `podpost resume` reuses them."


def _overrides(
    *,
    backend: str | None = None,
    model: str | None = None,
    speakers: str | None = None,
    num_speakers: int | None = None,
    lang: str | None = None,
    llm_model: str | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """The flags as config values; unset flags are left out so the file and env apply."""
    values: dict[str, Any] = {
        "asr": {"backend": backend, "model": model},
        "turns": {
            "speakers": [s.strip() for s in speakers.split(",") if s.strip()] if speakers else None
        },
        "diarize": {"num_speakers": num_speakers},
        "editorial": {"target_language": lang},
        "llm": {"model": llm_model},
        "drafts_dir": str(out.expanduser().resolve()) if out else None,
    }
    return _drop_empty(values)


def _drop_empty(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_empty(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out


def _flow_overrides(s: Settings, overrides: dict[str, Any]) -> dict[str, Any]:
    """What the flow needs to rebuild the same Config: the global --data-dir plus flags."""
    base = {"data_dir": str(Path(s.data_dir).expanduser().resolve())} if s.data_dir else {}
    return deep_merge(base, overrides)


def prepare_prefect() -> None:
    """Quiet Prefect's defaults, then make sure a configured API answers."""
    from flows.prefect_setup import check_api, quiet_defaults

    quiet_defaults(os.environ)
    check_api()


def _run(
    s: Settings,
    source: str,
    item: str | None,
    overrides: dict[str, Any],
    wait: bool,
    retry_failed: bool = False,
) -> dict[str, Any]:
    prepare_prefect()
    from flows.episode import episode_flow
    from flows.prefect_setup import command_line_run

    with command_line_run():
        return episode_flow(
            source=source,
            item=item,
            overrides=_flow_overrides(s, overrides),
            config_path=s.config_path,
            wait=wait,
            retry_failed=retry_failed,
        )


def _episode_folder(config: Config, episode: str) -> Path:
    path = Path(episode).expanduser()
    if (path / RUN_FILE).is_file():
        return path
    folder = config.episodes_dir / episode
    if (folder / RUN_FILE).is_file():
        return folder
    raise InputFileError(
        f"no run of episode {episode!r} in {config.episodes_dir}",
        hint="pass an id from `podpost status` or an episode folder",
    )


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_command(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="Episode URL, RSS feed URL or local file."),
        item: str | None = typer.Option(
            None, "--item", help="Feed item: guid, 1-based index or title (default: newest)."
        ),
        backend: str | None = typer.Option(
            None, "--backend", help="Transcript backend: whisper, captions or auto."
        ),
        model: str | None = typer.Option(
            None, "--model", help="Whisper model name or checkpoint path."
        ),
        speakers: str | None = typer.Option(
            None, "--speakers", help='Speaker names in order of appearance: "Ann,Bob".'
        ),
        num_speakers: int | None = typer.Option(
            None, "--num-speakers", help="Number of speakers, when known."
        ),
        lang: str | None = typer.Option(None, "--lang", help="Target language, e.g. zh-CN."),
        llm_model: str | None = typer.Option(None, "--llm-model", help="LLM model name."),
        out: Path | None = typer.Option(None, "--out", help="Drafts folder."),
        wait: bool = typer.Option(
            False, "--wait", help="If the episode is being processed, wait instead of refusing."
        ),
        retry_failed: bool = typer.Option(
            False, "--retry-failed", help="Ask the LLM again for failed translations only."
        ),
    ) -> None:
        """Run the whole pipeline on one episode and print the draft's path.

        Rerunning after a failure or a kill redoes only what did not finish.
        """
        s = settings(ctx)
        overrides = _overrides(
            backend=backend,
            model=model,
            speakers=speakers,
            num_speakers=num_speakers,
            lang=lang,
            llm_model=llm_model,
            out=out,
        )
        s.config(**overrides)  # a bad flag fails here, before anything starts
        local = Path(source).expanduser()
        if "://" not in source and local.exists():
            source = str(local.resolve())  # so `podpost resume` works from any folder
        source = remember_password(source)  # Prefect and run.json see user:***@ only
        result = _run(s, source, item, overrides, wait, retry_failed)
        typer.echo(result["draft"])

    @app.command("resume")
    def resume_command(
        ctx: typer.Context,
        episode: str | None = typer.Argument(None, help="Episode id or folder."),
        all_: bool = typer.Option(False, "--all", help="Resume every failed or killed run."),
        wait: bool = typer.Option(False, "--wait", help="Wait for a run that holds the lock."),
        retry_failed: bool = typer.Option(
            False, "--retry-failed", help="Ask the LLM again for failed translations only."
        ),
    ) -> None:
        """Finish a failed or interrupted run with the settings it started with."""
        s = settings(ctx)
        config = s.config()
        if all_ == (episode is not None):
            raise UsageError("give one EPISODE or --all", hint="see `podpost status`")
        # (label, source, item, overrides) of every run to finish
        todo: list[tuple[str, str, str | None, dict[str, Any]]] = []
        if episode is not None:
            folders = [_episode_folder(config, episode)]
        else:
            rows = status(config)
            folders = [
                config.episodes_dir / row.id
                for row in rows
                if row.id is not None
                and (
                    row.state == "failed"
                    or (retry_failed and _has_failed_turns(config.episodes_dir / row.id))
                )
            ]
            from pipeline.run.ledger import LEDGER_FILE, Ledger

            if (config.data_dir / LEDGER_FILE).is_file():
                todo += [
                    (f.source, f.source, f.item, f.overrides)
                    for f in Ledger.of(config).fetch_failures()
                ]
        for folder in folders:
            state = load_state(folder)
            if state is None or not state.source:
                raise InputFileError(f"{folder} has no run to resume", hint="use `podpost run`")
            todo.append((state.episode_id, state.source, state.item, state.overrides))
        if not todo:
            typer.echo("nothing to resume", err=True)
            return
        failures = 0
        for label, source, item, overrides in todo:
            try:
                result = _run(s, source, item, overrides, wait, retry_failed)
            except PodpostError as e:
                if episode is not None:
                    raise
                failures += 1
                print(f"{label}: error: {e.one_line()}", file=sys.stderr)
                continue
            typer.echo(result["draft"])
        if failures:
            raise typer.Exit(1)

    @app.command("render")
    def render_command(
        ctx: typer.Context,
        episode: str = typer.Argument(..., help="Episode id or folder."),
    ) -> None:
        """Render the draft again from stored results (no ASR or LLM work)."""
        from flows.episode import rerender

        config = settings(ctx).config()
        folder = _episode_folder(config, episode)
        state = load_state(folder)
        if state is not None and state.overrides:
            config = settings(ctx).config(**state.overrides)
        written = rerender(folder, config)
        typer.echo(written.message, err=True)
        typer.echo(str(written.path))

    @app.command("status")
    def status_command(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """One row per episode: state, last step finished, error, draft, tokens."""
        rows = status(settings(ctx).config())
        if as_json:
            typer.echo(json.dumps([row.model_dump() for row in rows], indent=2))
            return
        if not rows:
            typer.echo("no runs yet: start one with `podpost run URL`", err=True)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "title", "last step", "state", "review", "tokens", "draft / error")
        for row in rows:
            table.add_row(
                row.id or "-",
                row.title[:40] or row.source[:40],
                row.last_step or "-",
                row.state if row.state != "failed" else f"failed ({row.step or '?'})",
                row.review or "-",
                str(row.tokens),
                row.error if row.state == "failed" else (row.draft or "-"),
            )
        Console(soft_wrap=True).print(table)

    @app.command("ingest")
    def ingest_command(
        ctx: typer.Context,
        feed: str = typer.Argument(..., help="Podcast RSS feed, or a YouTube channel/playlist."),
        limit: int | None = typer.Option(None, "--limit", help="Take at most N new items."),
        since: str | None = typer.Option(
            None, "--since", help="Only items published on or after YYYY-MM-DD."
        ),
        concurrency: int = typer.Option(2, "--concurrency", help="Episodes at once."),
        via: str | None = typer.Option(
            None,
            "--via-deployment",
            help="Run each episode as a run of this deployment (e.g. episode/episode), "
            "so a work pool's workers share them.",
        ),
        backend: str | None = typer.Option(None, "--backend", help="Transcript backend."),
        model: str | None = typer.Option(None, "--model", help="Whisper model or checkpoint."),
        lang: str | None = typer.Option(None, "--lang", help="Target language."),
        llm_model: str | None = typer.Option(None, "--llm-model", help="LLM model name."),
        out: Path | None = typer.Option(None, "--out", help="Drafts folder."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run every feed item not yet processed; failures are retried next time."""
        s = settings(ctx)
        overrides = _overrides(
            backend=backend, model=model, lang=lang, llm_model=llm_model, out=out
        )
        s.config(**overrides)
        since_date = _date(since)
        feed = remember_password(feed)  # Prefect and the ledger see user:***@ only
        prepare_prefect()
        from flows.ingest import ingest_flow
        from flows.prefect_setup import command_line_run

        with command_line_run():
            summary = ingest_flow(
                feed=feed,
                limit=limit,
                since=since_date,
                concurrency=concurrency,
                overrides=_flow_overrides(s, overrides),
                config_path=s.config_path,
                episode_deployment=via,
            )
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
        else:
            _print_summary(summary)
        if summary["failed"]:
            raise typer.Exit(1)

    @app.command("schedule")
    def schedule_command(
        ctx: typer.Context,
        feed: str = typer.Argument(..., help="Podcast RSS feed, or a YouTube channel/playlist."),
        cron: str = typer.Option(..., "--cron", help='When to ingest, e.g. "0 6 * * *".'),
        name: str | None = typer.Option(None, "--name", help="Deployment name."),
        limit: int | None = typer.Option(None, "--limit", help="New items per ingestion."),
        concurrency: int = typer.Option(2, "--concurrency", help="Episodes at once."),
        via: str | None = typer.Option(
            None, "--via-deployment", help="Run each episode as a run of this deployment."
        ),
    ) -> None:
        """Serve a deployment of the ingest flow on a cron schedule (needs a Prefect server).

        Start `prefect server start` first and set PREFECT_API_URL; stop with Ctrl-C.
        """
        s = settings(ctx)
        s.config()
        prepare_prefect()
        _check_cron(cron)
        from flows.ingest import serve_schedule

        serve_schedule(
            feed,
            cron,
            name=name,
            limit=limit,
            concurrency=concurrency,
            overrides=_flow_overrides(s, {}),
            config_path=str(Path(s.config_path).resolve()) if s.config_path else None,
            episode_deployment=via,
        )


def _has_failed_turns(folder: Path) -> bool:
    """Whether the editorial step left turns untranslated (its editorial.json says)."""
    try:
        summary = json.loads((folder / "editorial.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(summary.get("failures"))


def _date(value: str | None) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is not a date", hint="write it as YYYY-MM-DD"
        ) from None


def _check_cron(cron: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=cron)
    except ValidationError:
        raise UsageError(
            f"--cron {cron!r} is not a cron expression", hint='e.g. "0 6 * * *"'
        ) from None


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("item", "result", "draft / error")
    for outcome in summary["items"]:
        if outcome["state"] == "done-before":
            continue
        table.add_row(
            outcome["title"] or outcome["guid"],
            outcome["state"],
            outcome["draft"] or outcome["error"] or "",
        )
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(
        f"{summary['new']} new drafts, {summary['failed']} failed, "
        f"{summary['done_before']} done before"
    )
