"""`podpost run|resume|render|status|ingest|schedule`: driving whole runs.

Each command parses, calls one function of :mod:`pipeline.run` or :mod:`flows`, prints.
Prefect is imported only inside the commands that run a flow, after
``flows.prefect_setup.prepare`` has set its defaults, so other commands stay fast; the
library (:mod:`pipeline.run`, which loads every stage) is imported inside each command
too, so ``podpost --help`` and ``podpost status`` load only what they use.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from pipeline.cli.boundary import interrupted_run
from pipeline.cli.common import ASR_BACKEND_NAMES, Settings, say, settings
from pipeline.config import Config, Until, deep_merge
from pipeline.errors import NeedsReviewError, PodpostError, RunInterruptedError, UsageError
from pipeline.terminal import raw

STEP_OPTIONS = "Options override the config file for this run; `podpost resume` reuses them."


def _overrides(
    *,
    backend: str | None = None,
    model: str | None = None,
    speakers: str | None = None,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
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
        "diarize": {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        },
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
    """Prefect's defaults and home folder, then an API that answers (one line if not)."""
    from flows.prefect_setup import prepare

    prepare(os.environ)


def _run(
    s: Settings,
    source: str,
    item: str | None,
    overrides: dict[str, Any],
    wait: bool,
    retry_failed: bool = False,
    until: str | None = None,
    episode_id: str | None = None,
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
            until=until,
            episode_id=episode_id,
        )


def register(app: typer.Typer) -> None:
    """Add ``run``, ``resume``, ``render``, ``status``, ``ingest`` and ``schedule`` to ``app``."""

    @app.command("run")
    def run_command(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="Episode URL, RSS feed URL or local file."),
        item: str | None = typer.Option(
            None, "--item", help="Feed item: guid, 1-based index or title (default: newest)."
        ),
        backend: str | None = typer.Option(
            None, "--backend", help=f"Transcript backend: {ASR_BACKEND_NAMES}."
        ),
        model: str | None = typer.Option(
            None, "--model", help="Whisper model name or checkpoint path."
        ),
        speakers: str | None = typer.Option(
            None, "--speakers", help='Speaker names in order of appearance: "Ann,Bob".'
        ),
        num_speakers: int | None = typer.Option(
            None, "--num-speakers", min=1, help="Number of speakers, when known."
        ),
        min_speakers: int | None = typer.Option(
            None, "--min-speakers", min=1, help="At least this many speakers (count estimated)."
        ),
        max_speakers: int | None = typer.Option(
            None, "--max-speakers", min=1, help="At most this many speakers (count estimated)."
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
        until: Until | None = typer.Option(
            None,
            "--until",
            help="Stop after this step: `turns` writes the speaker turns as a draft to "
            "check in `podpost preview`; `podpost resume` then translates (default: "
            "run.until in the config, else draft).",
        ),
    ) -> None:
        """Run the whole pipeline on one episode and print the draft's path.

        Rerunning after a failure or a kill redoes only what did not finish. A rerun keeps
        the settings the episode was made with; options given change only those settings.
        """
        from pipeline.fetch.urls import remember as remember_password
        from pipeline.run.resume import absolute_source, rerun_overrides
        from pipeline.run.status import check_complete

        s = settings(ctx)
        overrides = _overrides(
            backend=backend,
            model=model,
            speakers=speakers,
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            lang=lang,
            llm_model=llm_model,
            out=out,
        )
        # Prefect and run.json see user:***@ only
        source = remember_password(absolute_source(source))
        # a rerun keeps the settings its episode was made with; the flags go on top
        overrides = rerun_overrides(s.config(**overrides), source, item, overrides)
        # A bad flag, a missing program or an LLM that cannot work fails here, in seconds.
        preflight(s.config(**overrides))
        try:
            result = _run(s, source, item, overrides, wait, retry_failed, until)
        except KeyboardInterrupt:
            raise _interrupted(s.config(**overrides), source, item) from None
        say(result["draft"])
        check_complete(
            result["episode_id"], result["draft"], result["failed_turns"],
            result.get("failed_numbers"), result.get("stopped") or "",
            llm=s.config(**overrides).llm,
        )  # fmt: skip

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
        """Finish a failed or interrupted run with the settings it started with; after
        `run --until turns`, translate with the speakers as confirmed in the preview."""
        from pipeline.run.resume import resume_targets
        from pipeline.run.status import check_complete

        s = settings(ctx)
        if all_ == (episode is not None):
            raise UsageError("give one EPISODE or --all", hint="see `podpost status`")
        todo = resume_targets(s.config(), episode, retry_failed=retry_failed)
        if not todo:
            say("nothing to resume", err=True)
            return
        _preflight_each(s, [target.overrides for target in todo])
        failures = incomplete = 0
        for target in todo:
            try:
                # confirmed speakers (a run stopped `--until turns`) are translated now
                result = _run(
                    s, target.source, target.item, target.overrides, wait, retry_failed,
                    "draft", target.episode_id,
                )  # fmt: skip
            except KeyboardInterrupt:
                raise _interrupted(s.config(), target.source, target.item) from None
            except PodpostError as e:
                if episode is not None:
                    raise
                failures += 1
                say(f"{target.label}: error: {e.one_line()}", err=True)
                continue
            say(result["draft"])
            try:
                check_complete(
                    result["episode_id"], result["draft"], result["failed_turns"],
                    result.get("failed_numbers"), result.get("stopped") or "",
                    llm=s.config(**target.overrides).llm,
                )  # fmt: skip
            except NeedsReviewError as e:
                if episode is not None:
                    raise
                incomplete += 1
                say(f"{target.label}: error: {e.one_line()}", err=True)
        if failures:
            raise typer.Exit(1)
        if incomplete:
            raise typer.Exit(NeedsReviewError.exit_code)

    @app.command("render")
    def render_command(
        ctx: typer.Context,
        episode: str = typer.Argument(..., help="Episode id or folder."),
    ) -> None:
        """Render the draft again from stored results (no ASR or LLM work)."""
        from pipeline.run.episode import rerender

        written = rerender(settings(ctx).config, episode)
        say(written.message, err=True)
        say(str(written.path))

    @app.command("status")
    def status_command(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """One row per episode: state, last step finished, error, draft, tokens."""
        from pipeline.run.status import status

        rows = status(settings(ctx).config())
        if as_json:
            say(json.dumps([row.model_dump() for row in rows], indent=2))
            return
        if not rows:
            say("no runs yet: start one with `podpost run URL`", err=True)
            return
        from rich.console import Console

        from pipeline.cli.status_view import print_status

        print_status(rows, Console(file=raw(sys.stdout), soft_wrap=True))

    @app.command("ingest")
    def ingest_command(
        ctx: typer.Context,
        feed: str = typer.Argument(..., help="Podcast RSS feed, or a YouTube channel/playlist."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Take at most N new items."),
        since: str | None = typer.Option(
            None, "--since", help="Only items published on or after YYYY-MM-DD."
        ),
        concurrency: int = typer.Option(2, "--concurrency", min=1, help="Episodes at once."),
        via: str | None = typer.Option(
            None,
            "--via-deployment",
            help="Run each episode as a run of this deployment (e.g. episode/episode), "
            "so a work pool's workers share them.",
        ),
        backend: str | None = typer.Option(
            None, "--backend", help=f"Transcript backend: {ASR_BACKEND_NAMES}."
        ),
        model: str | None = typer.Option(None, "--model", help="Whisper model or checkpoint."),
        lang: str | None = typer.Option(None, "--lang", help="Target language."),
        llm_model: str | None = typer.Option(None, "--llm-model", help="LLM model name."),
        out: Path | None = typer.Option(None, "--out", help="Drafts folder."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run every feed item not yet processed; failures are retried next time."""
        from pipeline.fetch.urls import remember as remember_password
        from pipeline.run.status import check_ingest

        s = settings(ctx)
        overrides = _overrides(
            backend=backend, model=model, lang=lang, llm_model=llm_model, out=out
        )
        since_date = _date(since)
        preflight(s.config(**overrides))
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
            say(json.dumps(summary, indent=2))
        else:
            from rich.console import Console

            from pipeline.cli.ingest_view import print_summary

            print_summary(summary, Console(file=raw(sys.stdout), soft_wrap=True))
        if summary["failed"]:
            raise typer.Exit(1)
        check_ingest(summary)

    @app.command("schedule")
    def schedule_command(
        ctx: typer.Context,
        feed: str = typer.Argument(..., help="Podcast RSS feed, or a YouTube channel/playlist."),
        cron: str = typer.Option(..., "--cron", help='When to ingest, e.g. "0 6 * * *".'),
        name: str | None = typer.Option(None, "--name", help="Deployment name."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="New items per ingestion."),
        concurrency: int = typer.Option(2, "--concurrency", min=1, help="Episodes at once."),
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


def preflight(config: Config) -> None:
    """Programs and LLM checked in seconds, before any fetch (imports openai: lazily)."""
    from pipeline.preflight import preflight as check
    from pipeline.run.steps import check_backends

    check_backends(config)
    check(config)


def _preflight_each(s: Settings, runs: list[dict[str, Any]]) -> None:
    """The preflight for every distinct LLM setting among ``runs`` (their overrides)."""
    seen: set[tuple[Any, ...]] = set()
    for overrides in runs:
        config = s.config(**overrides)
        key = (config.llm.base_url, config.llm.api_key, config.llm.model)
        if key not in seen:
            seen.add(key)
            preflight(config)


def _interrupted(config: Config, source: str, item: str | None) -> RunInterruptedError:
    """The line for a Ctrl-C during a run of ``source``: its episode, from the run record
    the interrupted run left (the newest one of that source and item)."""
    from pipeline.run.status import status

    row = next((r for r in status(config) if r.id and r.source == source and r.item == item), None)
    return interrupted_run(row.id if row else None, row.step if row else None, source)


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
