"""An approved draft builds in a minimal Eleventy site, with one <details> per turn.

The test installs npm ``@11ty/eleventy`` once into pytest's cache folder
(``.pytest_cache/d/podpost-eleventy``, ignored by git) and reuses it on later runs; each
test site links that ``node_modules`` and builds with ``npx --no @11ty/eleventy`` (``--no``:
never fetch at build time).
"""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.npm import npm_install
from tests.fixtures.review import Drafts, clean_post, podpost

ELEVENTY = "@11ty/eleventy@3"
LAYOUT = """<!doctype html>
<html lang="zh">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<article>
<h1 class="post-title">{{ title }}</h1>
<p class="summary">{{ summary }}</p>
{{ content | safe }}
</article>
</body>
</html>
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def eleventy_modules(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``node_modules`` holding Eleventy, installed once and cached across runs."""
    return npm_install(
        request, tmp_path_factory, ELEVENTY, "podpost-eleventy", ".bin/eleventy", 600
    )


def _text(fragment: str) -> str:
    """Visible text: inline bold vanishes, block tags separate words."""
    inline = re.sub(r"</?strong>", "", fragment)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def test_approved_post_builds_with_eleventy(
    drafts: Drafts, eleventy_modules: Path, tmp_path: Path
) -> None:
    site = tmp_path / "blog"
    content = site / "src" / "posts"
    content.mkdir(parents=True)
    (site / "src" / "_includes").mkdir()
    (site / "src" / "_includes" / "post.njk").write_text(LAYOUT, "utf-8")
    (site / "node_modules").symlink_to(eleventy_modules, target_is_directory=True)

    # Text that must stay text on the page, markup characters included.
    post = clean_post(title="向量数据库 & <检索>：专访 Leo Park")
    data = post.model_dump()
    data["sections"][1]["turns"][0]["original"] += " Is <b>this</b> & that </details> safe?"
    post = type(post).model_validate(data)
    drafts.write("episode", post)
    approved = podpost(drafts.config_toml(), "approve", "episode", "--to", str(content))
    assert approved.returncode == 0, approved.stderr

    build = subprocess.run(
        ["npx", "--no", "--", "@11ty/eleventy", "--input=src", "--output=_site", "--quiet"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    slug = "2026-03-02-xiang-liang-shu-ju-ku-jian-suo-zhuan-fang-leo-park"
    assert [p.name for p in content.iterdir()] == [f"{slug}.md"]
    page = (site / "_site" / "posts" / slug / "index.html").read_text("utf-8")

    title = re.search(r'<h1 class="post-title">(.*?)</h1>', page)
    assert title is not None and html.unescape(title.group(1)) == post.front.title
    blocks = re.findall(r"<details>(.*?)</details>", page, flags=re.DOTALL)
    assert len(blocks) == len(post.turns) == 6
    expected = [
        f"Original English {turn.speaker}: {turn.original.replace('**', '')}" for turn in post.turns
    ]
    assert [_text(block) for block in blocks] == expected
    # The translation sits outside its <details>, the original's bold terms inside it.
    assert "<strong>vector database</strong>" in blocks[0]
    assert "<b>this</b>" not in page
