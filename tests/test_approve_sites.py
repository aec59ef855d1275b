"""`approve --site eleventy|jekyll|hugo|astro`: each generator's file naming and front matter.

The fast tests check names, folders and the front matter text; the slow ones build a real
site with Hugo and Jekyll (Debian packages, installed by ``scripts/setup.sh --test``) and
Astro (npm ``astro@5``, installed once into pytest's cache like Eleventy in
test_approve_eleventy.py), and read every front matter value back from what the
generator made of it.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import SITE_GENERATORS
from pipeline.errors import DraftConflictError, UsageError
from pipeline.models import Post
from pipeline.review.export import export_draft
from pipeline.review.publish import approve
from pipeline.review.sites import SITES
from tests.fixtures.npm import npm_install
from tests.fixtures.review import Drafts, clean_post, podpost, write_episode

SLUG = "xiang-liang-shu-ju-ku-jian-suo-zhuan-fang-leo-park"  # tricky_post's title
DATED = f"2026-03-02-{SLUG}"
CLEAN_SLUG = "xiang-liang-shu-ju-ku-yu-jian-suo-zeng-qiang-sheng-cheng-zhuan-fang-leo-park"


def tricky_post() -> Post:
    """The clean interview with front matter values that YAML readers like to change."""
    return clean_post(
        title="向量数据库 & <检索>：专访 Leo Park",
        guest="Dana O'Neil",
        summary="yes",  # a YAML 1.1 boolean, unquoted
        insight="1e3",  # a YAML 1.2 number, unquoted
        series="",
        people=["Leo Park", "null", "2026-03-02"],
        companies_orgs=["Acme: Labs", "#1 Corp"],
        products_models=[],
        media_books=["{{ site.title }}"],
    )


def front_of(path: Path) -> dict[str, Any]:
    text = path.read_text("utf-8")
    return yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))


def expected_front(post: Post, site: str) -> dict[str, Any]:
    """What every reader of the site file must see: the post's values, draft false."""
    values = post.front.model_dump() | {"draft": False}
    if site in ("hugo", "astro"):
        del values["layout"]
    if site == "jekyll":
        values["layout"] = "post"
    return values


# --- names, folders and front matter (fast) ----------------------------------------------


def test_the_config_and_the_generators_name_the_same_sites() -> None:
    assert tuple(SITES) == SITE_GENERATORS


@pytest.mark.parametrize(
    ("site", "root_marker", "folder", "name"),
    [
        ("eleventy", None, ".", f"{DATED}.md"),
        ("jekyll", "_config.yml", "_posts", f"{DATED}.md"),
        ("hugo", "hugo.toml", "content/posts", f"{SLUG}.md"),
        ("astro", "astro.config.mjs", "src/content/posts", f"{SLUG}.md"),
    ],
)
def test_each_generator_names_and_places_the_post_its_way(
    drafts: Drafts, tmp_path: Path, site: str, root_marker: str | None, folder: str, name: str
) -> None:
    post = tricky_post()
    draft = drafts.write("episode", post)
    root = tmp_path / "site"
    root.mkdir()
    if root_marker:
        (root / root_marker).write_text("", "utf-8")
    result = approve(
        draft, root, site=site, db=drafts.db
    )  # the site's root: its posts folder is found
    assert result.target == (root / folder / name).resolve()
    front = front_of(result.target)
    assert front == expected_front(post, site) | (
        {} if site == "eleventy" else {"date": dt.date(2026, 3, 2)}
    )
    assert list(front) == list(expected_front(post, site))  # the blog's key order
    text = result.target.read_text("utf-8")
    details = '<details markdown="1">' if site == "jekyll" else "<details>"
    assert text.count(f"\n{details}\n") == 6 and text.count("<details") == 6
    if site == "eleventy":  # the blog format, byte for byte
        assert "\ndate: '2026-03-02'\n" in text and "\nlayout: post.njk\n" in text
    else:
        assert "\ndate: 2026-03-02\n" in text
    # Approving again finds the same file and leaves it as it is.
    again = approve(draft, root / folder, site=site, db=drafts.db)
    assert (again.target, again.written) == (result.target, False)


def test_hugo_front_matter_is_written_in_the_blog_style(drafts: Drafts, tmp_path: Path) -> None:
    draft = drafts.write("episode", tricky_post())
    result = approve(draft, tmp_path, site="hugo", db=drafts.db)
    front = result.target.read_text("utf-8").split("\n---\n", 1)[0]
    assert front == (
        "---\n"
        "author: Test Talks\n"
        "date: 2026-03-02\n"
        "guest: Dana O'Neil\n"
        "source: https://www.youtube.com/watch?v=abcDEF12345\n"
        "speaker: Test Talks\n"
        "tags:\n  - vector-databases\n  - rag\n"
        "title: 向量数据库 & <检索>：专访 Leo Park\n"
        "summary: 'yes'\n"
        "insight: '1e3'\n"
        "draft: false\n"
        "series: ''\n"
        "category: ai-ml\n"
        "area: tech-engineering\n"
        "project: []\n"
        "people:\n  - Leo Park\n  - 'null'\n  - '2026-03-02'\n"
        "companies_orgs:\n  - 'Acme: Labs'\n  - '#1 Corp'\n"
        "products_models: []\n"
        "media_books:\n  - '{{ site.title }}'\n"
        "status: evergreen"
    )


def test_jekyll_publishes_only_into_posts(drafts: Drafts, tmp_path: Path) -> None:
    draft = drafts.write("episode", clean_post())
    with pytest.raises(UsageError, match=r"is not a Jekyll _posts folder"):
        approve(draft, tmp_path, site="jekyll", db=drafts.db)
    posts = tmp_path / "blog" / "_posts"
    posts.mkdir(parents=True)
    result = approve(draft, posts, site="jekyll", slug="my-talk", db=drafts.db)
    assert result.target.name == "2026-03-02-my-talk.md"  # Jekyll needs the date in the name


def test_another_episodes_hugo_post_is_never_replaced(drafts: Drafts, tmp_path: Path) -> None:
    first = drafts.write("first", clean_post())
    approve(first, tmp_path, site="hugo", db=drafts.db)
    other = drafts.write("other", clean_post(source="https://example.com/other.mp3"))
    with pytest.raises(DraftConflictError, match="is another episode's post"):
        approve(other, tmp_path, site="hugo", force=True, db=drafts.db)


def test_site_setting_and_flag_on_the_command_line(drafts: Drafts, tmp_path: Path) -> None:
    drafts.write("episode", clean_post())
    root = tmp_path / "hugo-site"
    root.mkdir()
    (root / "hugo.toml").write_text("", "utf-8")
    config = drafts.config_toml()
    config.write_text(config.read_text("utf-8") + '[site]\ngenerator = "hugo"\n', "utf-8")
    done = podpost(config, "approve", "episode", "--to", str(root))
    assert done.returncode == 0, done.stderr
    assert (root / "content" / "posts" / f"{CLEAN_SLUG}.md").is_file()
    wrong = podpost(config, "approve", "episode", "--to", str(root), "--site", "gatsby")
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "error: unknown site generator 'gatsby'; use one of: eleventy, jekyll, hugo, astro"
    ]


# --- real builds (slow) --------------------------------------------------------------------


def _build(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _need(tool: str) -> None:
    if not shutil.which(tool):
        pytest.skip(f"{tool} is needed (scripts/setup.sh --test installs it)")


def _details(html_text: str) -> list[str]:
    return re.findall(r"<details>(.*?)</details>", html_text, flags=re.DOTALL)


def _check_body(page: str, post: Post) -> None:
    """One <details> per turn, each holding its original with the bold label rendered."""
    blocks = _details(page)
    assert len(blocks) == len(post.turns) == 6
    for block, turn in zip(blocks, post.turns, strict=True):
        assert f"<strong>{turn.speaker}</strong>:" in block


HUGO_CONFIG = """baseURL = "http://example.org/"
title = "podpost test"
disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404", "home"]
[markup.goldmark.renderer]
unsafe = true  # the post's <details> blocks are raw HTML
"""
HUGO_SINGLE = (
    '<pre id="front">{{ dict "params" .Params "date" (.Date.Format "2006-01-02") '
    '"draft" .Draft "title" .Title | jsonify | safeHTML }}</pre>\n<main>{{ .Content }}</main>\n'
)


@pytest.mark.slow
def test_hugo_builds_the_approved_post(drafts: Drafts, tmp_path: Path) -> None:
    _need("hugo")
    post = tricky_post()
    draft = drafts.write("episode", post)
    site = tmp_path / "hugo"
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "hugo.toml").write_text(HUGO_CONFIG, "utf-8")
    (site / "layouts" / "_default" / "single.html").write_text(HUGO_SINGLE, "utf-8")
    write_episode(drafts.episodes_dir, post)
    assert approve(draft, site, site="hugo", db=drafts.db).target.name == f"{SLUG}.md"
    # Exports beside a Hugo page are the section's files: Hugo publishes them beside it.
    exported = export_draft(
        draft,
        ["vtt", "chapters"],
        target_language="zh-CN",
        episodes_dir=drafts.episodes_dir,
        db=drafts.db,
    )
    assert sorted(p.name for p in exported) == [
        f"{SLUG}.chapters.json",
        f"{SLUG}.en.vtt",
        f"{SLUG}.zh-CN.vtt",
    ]
    _build(["hugo", "--quiet"], site)
    for path in exported:
        assert (site / "public" / "posts" / path.name).read_bytes() == path.read_bytes()
    page = (site / "public" / "posts" / SLUG / "index.html").read_text("utf-8")
    built = json.loads(re.search(r'<pre id="front">(.*?)</pre>', page, re.DOTALL).group(1))  # type: ignore[union-attr]
    want = expected_front(post, "hugo")
    params = {key: built["params"][key] for key in want}  # Hugo adds its own keys beside
    assert params == want | {"date": "2026-03-02T00:00:00Z"}
    assert (built["date"], built["draft"], built["title"]) == ("2026-03-02", False, want["title"])
    _check_body(page, post)


JEKYLL_LAYOUT = (
    '<pre id="front">{{ page | jsonify | xml_escape }}</pre>\n<main>{{ content }}</main>\n'
)


@pytest.mark.slow
def test_jekyll_builds_the_approved_post(drafts: Drafts, tmp_path: Path) -> None:
    _need("jekyll")
    post = tricky_post()
    draft = drafts.write("episode", post)
    site = tmp_path / "jekyll"
    (site / "_layouts").mkdir(parents=True)
    (site / "_config.yml").write_text("title: podpost test\n", "utf-8")
    (site / "_layouts" / "post.html").write_text(JEKYLL_LAYOUT, "utf-8")
    assert approve(draft, site, site="jekyll", db=drafts.db).target.name == f"{DATED}.md"
    _build(["jekyll", "build", "--quiet", "--safe"], site)
    # Jekyll's own URL for a post with a category: /CATEGORY/YYYY/MM/DD/slug.html
    page = (site / "_site" / "ai-ml" / "2026" / "03" / "02" / f"{SLUG}.html").read_text("utf-8")
    raw = re.search(r'<pre id="front">(.*?)</pre>', page, re.DOTALL).group(1)  # type: ignore[union-attr]
    built = json.loads(html.unescape(raw))
    want = expected_front(post, "jekyll")
    assert {key: built[key] for key in want} == want | {"date": "2026-03-02 00:00:00 +0000"}
    assert built["categories"] == ["ai-ml"] and built["layout"] == "post"
    _check_body(page, post)


@pytest.fixture(scope="session")
def astro_modules(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``node_modules`` holding Astro 5 (Node 20 runs it), installed once and cached."""
    return npm_install(request, tmp_path_factory, "astro@5", "podpost-astro", ".bin/astro", 900)


# A content collection whose schema names every front matter key: z.date() needs a YAML
# date, .strict() refuses a key too many, and each type is the one the value must keep.
ASTRO_CONTENT_CONFIG = """import { defineCollection, z } from "astro:content";
import { glob } from "astro/loaders";
const text = z.string();
const list = z.array(z.string());
const posts = defineCollection({
  loader: glob({ pattern: "**/*.md", base: "./src/content/posts" }),
  schema: z.object({
    author: text, date: z.date(), guest: text, source: text, speaker: text, tags: list,
    title: text, summary: text, insight: text, draft: z.boolean(), series: text,
    category: text, area: text, project: list, people: list, companies_orgs: list,
    products_models: list, media_books: list, status: text,
  }).strict(),
});
export const collections = { posts };
"""
ASTRO_ENDPOINT = """import { getCollection } from "astro:content";
export async function GET() {
  const posts = await getCollection("posts");
  const out = posts.map((p) => ({ id: p.id, data: p.data, html: p.rendered?.html ?? "" }));
  return new Response(JSON.stringify(out));
}
"""


@pytest.mark.slow
def test_astro_builds_the_approved_post(
    drafts: Drafts, tmp_path: Path, astro_modules: Path
) -> None:
    post = tricky_post()
    draft = drafts.write("episode", post)
    site = tmp_path / "astro"
    (site / "src" / "pages").mkdir(parents=True)
    (site / "astro.config.mjs").write_text(
        'import { defineConfig } from "astro/config";\nexport default defineConfig({});\n', "utf-8"
    )
    (site / "src" / "content.config.mjs").write_text(ASTRO_CONTENT_CONFIG, "utf-8")
    (site / "src" / "pages" / "posts.json.js").write_text(ASTRO_ENDPOINT, "utf-8")
    (site / "node_modules").symlink_to(astro_modules, target_is_directory=True)
    target = approve(draft, site, site="astro", db=drafts.db).target
    assert target == (site / "src" / "content" / "posts" / f"{SLUG}.md").resolve()
    result = subprocess.run(
        ["npx", "--no", "--", "astro", "build", "--silent"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"ASTRO_TELEMETRY_DISABLED": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (entry,) = json.loads((site / "dist" / "posts.json").read_text("utf-8"))
    assert entry["id"] == SLUG
    assert entry["data"] == expected_front(post, "astro") | {"date": "2026-03-02T00:00:00.000Z"}
    _check_body(entry["html"], post)
