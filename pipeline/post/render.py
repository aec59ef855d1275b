"""Post model -> the Markdown file the blog publishes (pure, apart from reading templates)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from pipeline.errors import ConfigError
from pipeline.models import Post
from pipeline.post import yaml_style
from pipeline.post.text import escape_heading, escape_inline, escape_paragraph

BODY_TEMPLATE = "post.md.j2"


def builtin_template_dir() -> Path:
    """Templates ship inside the wheel as pipeline/_templates; a checkout has ./templates."""
    packaged = Path(__file__).resolve().parents[1] / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


@lru_cache(maxsize=8)
def _environment(folder: Path) -> jinja2.Environment:
    # One environment per folder; Jinja reloads a template whose file changed (auto_reload).
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML: the md_* filters do the escaping
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md_inline=escape_inline, md_paragraph=escape_paragraph, md_heading=escape_heading
    )
    return env


def load_template(path: Path | None = None) -> jinja2.Template:
    """The built-in body template, or a user's own file (config ``[post] template``).

    Raises ``ConfigError`` when ``path`` does not exist or has a Jinja2 syntax error.
    """
    if path is None:
        return _environment(builtin_template_dir()).get_template(BODY_TEMPLATE)
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"post template {path} does not exist",
            hint="set [post] template to an existing Jinja2 file, or remove it",
        )
    try:
        return _environment(path.parent).get_template(path.name)
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(
            f"post template {path} line {e.lineno}: {e.message}", hint="fix the template"
        ) from e


def render_body(post: Post, template: jinja2.Template | None = None) -> str:
    """The Markdown after the front matter, without a final newline.

    ``template`` defaults to the built-in one; it gets ``sections`` and ``front``. Raises
    ``ConfigError`` when a user's template uses an undefined value.
    """
    template = template or load_template()
    try:
        body = template.render(sections=post.sections, front=post.front)
    except jinja2.UndefinedError as e:
        raise ConfigError(
            f"post template uses an undefined value: {e.message}",
            hint="templates get `sections` and `front`; see templates/post.md.j2",
        ) from e
    return body.rstrip("\n")


def render_post(post: Post, template: jinja2.Template | None = None) -> str:
    """The whole file: front matter in the blog's YAML style, the body, no trailing newline.

    ``parse_post(render_post(p)) == p`` for every valid post, and ``check_post`` of the
    result is empty. Raises ``ConfigError`` for a broken user template.
    """
    return yaml_style.dump(post.front.model_dump(), render_body(post, template))
