"""The body template is the user's to replace (a Hugo blog brings its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.post.parse import parse_post
from pipeline.post.render import load_template, render_post
from tests.post_helpers import GOLDEN, podpost


def test_user_template_from_config(tmp_path: Path):
    template = tmp_path / "hugo.md.j2"
    template.write_text(
        "{% for s in sections %}{% for t in s.turns %}"
        "{{ t.speaker | md_inline }}: {{ t.original | md_paragraph }}\n{% endfor %}{% endfor %}"
    )
    (tmp_path / "podpost.toml").write_text(f'[post]\ntemplate = "{template}"\n')
    source = GOLDEN / "panel-no-headings.md"
    parsed = podpost("post", "parse", str(source))
    rendered = podpost("post", "render", "-", stdin=parsed.stdout, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    body = rendered.stdout.decode().split("\n---\n", 1)[1]
    assert (
        body.split("\n")[0]
        == "Mira Chen: Let's just dive in. What has open weights actually changed?"
    )
    assert not body.endswith("\n")


def test_template_with_an_undefined_name_fails_clearly(tmp_path: Path):
    template = tmp_path / "bad.md.j2"
    template.write_text("{{ episode.title }}")
    post = parse_post((GOLDEN / "panel-no-headings.md").read_text("utf-8"))
    with pytest.raises(ConfigError, match="undefined value"):
        render_post(post, load_template(template))


def test_missing_template(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_template(tmp_path / "nope.j2")
