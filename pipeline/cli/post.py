"""`podpost post parse|render|check|schema`: the post file format on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from pipeline.cli.common import say, settings
from pipeline.errors import InputFileError

# The format's reference page, in the repository a user cloned.
FORMAT_DOC = "docs/post-format.md"
post_app = typer.Typer(
    help=f"Parse, render and check post files (the format: {FORMAT_DOC}).",
    no_args_is_help=True,
)


def _write_stdout(text: str) -> None:
    # Bytes, not print(): a post ends without a newline and must stay byte-exact in pipes.
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


@post_app.command("parse")
def parse_command(file: str = typer.Argument(..., help="A post file, or - for stdin.")) -> None:
    """Print the post as JSON (the schema: `podpost post schema`)."""
    from pipeline.post.io import load_post  # YAML and the models load only when a command runs

    _write_stdout(load_post(file).model_dump_json(indent=2) + "\n")


@post_app.command("render")
def render_command(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="Post JSON from `podpost post parse`, or - for stdin."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Write here instead of stdout."),
) -> None:
    """Render post JSON to the Markdown file the blog publishes."""
    from pipeline.post.io import post_from_json, read_text, write_post_text
    from pipeline.post.render import load_template, render_post

    config = settings(ctx).config()
    post = post_from_json(read_text(file), name=file)
    text = render_post(post, load_template(config.post.template))
    if out is None:
        _write_stdout(text)
    else:
        write_post_text(out, text)
        say(f"wrote {out}", err=True)


@post_app.command("check")
def check_command(files: list[str] = typer.Argument(..., help="Post files to check.")) -> None:
    """Print FILE:LINE: problem for every departure from the post format; exit 1 if any.

    A file that cannot be read, or whose front matter is not YAML, is bad input: one
    ``error:`` line on stderr, the other files still checked, exit 2."""
    from pipeline.post.io import read_text
    from pipeline.post.parse import YAML_HINT, check_post

    bad_input = found = False
    for file in files:
        try:
            text = read_text(file)
        except InputFileError as e:
            say(f"error: {e.one_line()}", err=True)
            bad_input = True
            continue
        problems = check_post(text)
        unreadable = next((p for p in problems if p.unreadable), None)
        if unreadable is not None:  # as `post parse` says it: nothing else is worth listing
            where = f"{file}:{unreadable.line}"
            say(f"error: {where}: {unreadable.message}; {YAML_HINT}", err=True)
            bad_input = True
            continue
        for problem in problems:
            found = True
            say(f"{file}:{problem.line}: {problem.message}")
    raise typer.Exit(2 if bad_input else 1 if found else 0)


@post_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the post JSON that `parse` writes and `render` reads."""
    from pipeline.models import Post

    _write_stdout(json.dumps(Post.model_json_schema(), indent=2, ensure_ascii=False) + "\n")


def register(app: typer.Typer) -> None:
    """Add the ``podpost post`` group (parse, render, check, schema) to ``app``."""
    app.add_typer(post_app, name="post")
