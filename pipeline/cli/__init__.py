"""The ``podpost`` command line: parse, call the library, print. No business logic here."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import typer

from pipeline.cli import editorial, media, post, review, runs, speakers
from pipeline.cli.boundary import EXIT_INTERRUPTED, report
from pipeline.cli.common import Settings, say
from pipeline.config import debug_requested, unknown_env
from pipeline.terminal import guarded_streams

app = typer.Typer(
    name="podpost",
    help="Turn podcast and video interviews into bilingual draft blog posts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@dataclass
class Entry:
    """What :func:`main` learns while the global options are parsed (for its boundary)."""

    debug: bool = False


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None, "--config", help="TOML config file (default: ./podpost.toml, then the user's)."
    ),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Where episodes are stored."),
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an unexpected error (or PODPOST_DEBUG=1)."
    ),
) -> None:
    if isinstance(ctx.obj, Entry):
        ctx.obj.debug = ctx.obj.debug or debug
    for line in unknown_env(os.environ):  # the entry point: the one place env is read
        say(f"warning: {line}", err=True)
    ctx.obj = Settings(config_path=config, data_dir=data_dir)


for module in (post, media, speakers, editorial, runs, review):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point and error boundary: usage errors print click's usage message (exit 2);
    anything else that escapes a command is one line on stderr and its exit code.

    Everything written to stdout and stderr meanwhile passes the one sanitizer
    (:func:`pipeline.terminal.guarded_streams`): control characters from titles, names,
    file names or error text are shown escaped, and no encoding error can end a command."""
    with guarded_streams():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    entry = Entry(debug=debug_requested(os.environ))
    try:
        # Outside standalone mode click returns typer.Exit's code (and 130 for Ctrl-C)
        # and raises usage errors here instead of printing them itself.
        code = app(args=argv, prog_name="podpost", standalone_mode=False, obj=entry)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:
        sys.exit(report(e, debug=entry.debug))
    if code == EXIT_INTERRUPTED:  # typer turns a Ctrl-C in a command into Exit(130), silently
        print("interrupted (Ctrl-C)", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
