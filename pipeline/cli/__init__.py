"""The ``podpost`` command line: parse, call the library, print. No business logic here."""

from __future__ import annotations

import sys

import typer

from pipeline.cli import editorial, media, post, review, runs, speakers
from pipeline.cli.common import Settings
from pipeline.errors import PodpostError

app = typer.Typer(
    name="podpost",
    help="Turn podcast and video interviews into bilingual draft blog posts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None, "--config", help="TOML config file (default: ./podpost.toml, then the user's)."
    ),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Where episodes are stored."),
) -> None:
    ctx.obj = Settings(config_path=config, data_dir=data_dir)


for module in (post, media, speakers, editorial, runs, review):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every PodpostError becomes one line on stderr and its exit code."""
    try:
        # Outside standalone mode click returns the code of typer.Exit instead of exiting.
        code = app(args=argv, standalone_mode=False)
    except PodpostError as e:
        print(f"error: {e.one_line()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
