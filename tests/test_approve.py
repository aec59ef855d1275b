"""`podpost approve` / `reject`: publish into the site folder safely, and record decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import ApprovalRefusedError, DraftConflictError
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.flags import load_record, review_state
from pipeline.review.publish import approve, reject, slug_for
from tests.cli_helpers import cli
from tests.fixtures.review import Drafts, clean_post, podpost


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def site(drafts: Drafts) -> Path:
    folder = drafts.root / "site" / "posts"
    folder.mkdir(parents=True)
    return folder


def test_approve_writes_the_post_with_draft_false(drafts: Drafts, site: Path) -> None:
    post = clean_post()
    draft = drafts.write("episode", post)
    config = drafts.config_toml(site_dir=str(site))
    result = podpost(config, "approve", "episode")
    assert result.returncode == 0, result.stderr
    slug = "xiang-liang-shu-ju-ku-yu-jian-suo-zeng-qiang-sheng-cheng-zhuan-fang-leo-park"
    target = site / f"2026-03-02-{slug}.md"
    assert result.stdout == f"approved episode.md; wrote {target}\n"
    published = target.read_text("utf-8")
    assert check_post(published) == []
    assert published == render_post(
        post.model_copy(update={"front": post.front.model_copy(update={"draft": False})})
    )
    assert "draft: true" in draft.read_text("utf-8")  # the draft itself is left as it was
    assert review_state(drafts.db, draft) == "approved"
    assert load_record(drafts.db, draft).decisions[-1].target == str(target)  # type: ignore[union-attr]
    again = podpost(config, "approve", str(draft))
    assert (again.returncode, again.stdout) == (
        0,
        f"approved episode.md; already up to date: {target}\n",
    )


@pytest.mark.slow  # several CLI runs, about 1 s each
def test_approving_over_a_different_file_needs_force(drafts: Drafts, site: Path) -> None:
    post = clean_post()
    draft = drafts.write("episode", post)
    config = drafts.config_toml()
    assert podpost(config, "approve", "episode", "--to", str(site)).returncode == 0
    draft.write_text(render_post(clean_post(summary="改过的摘要。")), "utf-8")
    before = _tree(drafts.root)
    result = podpost(config, "approve", "episode", "--to", str(site))
    target = next(site.iterdir())
    assert result.returncode == DraftConflictError.exit_code == 7
    assert result.stderr == (
        f"error: {target} already exists with different content; pass --force to replace it, "
        "or change the post's title or date\n"
    )
    assert _tree(drafts.root) == before  # nothing changed, not even the record
    assert review_state(drafts.db, draft) == "edited"
    forced = podpost(config, "approve", "episode", "--to", str(site), "--force")
    assert forced.returncode == 0, forced.stderr
    assert parse_post(target.read_text("utf-8")).front.summary == "改过的摘要。"
    assert [p.name for p in site.iterdir()] == [target.name]
    assert review_state(drafts.db, draft) == "approved"


def test_a_hand_made_file_at_the_target_is_not_replaced(drafts: Drafts, site: Path) -> None:
    draft = drafts.write("episode", clean_post(title="Hello"))
    mine = site / "2026-03-02-hello.md"
    mine.write_text("my own post", "utf-8")
    with pytest.raises(DraftConflictError):
        approve(draft, site, db=drafts.db)
    assert mine.read_text("utf-8") == "my own post"
    assert review_state(drafts.db, draft) == "drafted"


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("../../etc/passwd", "2026-03-02-etc-passwd.md"),
        ("a/b\\c/../d", "2026-03-02-a-b-c-d.md"),
        ("..", "2026-03-02-post.md"),
        ("/", "2026-03-02-post.md"),
        ("？！……——", "2026-03-02-post.md"),
        ("''", "2026-03-02-post.md"),
        ("向量数据库", "2026-03-02-xiang-liang-shu-ju-ku.md"),
        # Long titles stop at a word boundary within 80 characters.
        ("Ünïcödé: the ~talk~ " + "word " * 30,
         "2026-03-02-unicode-the-talk" + "-word" * 12 + ".md"),
    ],
)  # fmt: skip
def test_any_title_lands_inside_the_content_folder(
    drafts: Drafts, site: Path, title: str, name: str
) -> None:
    draft = drafts.write("episode", clean_post(title=title.strip()))
    before = _tree(drafts.root)
    result = approve(draft, site, db=drafts.db)
    assert result.target == site.resolve() / name
    after = _tree(drafts.root)
    new = sorted(set(after) - set(before))
    assert new == sorted([f"site/posts/{name}"])
    assert parse_post(after[f"site/posts/{name}"].decode()).front.title == title.strip()


def test_slug_uses_the_date_and_title() -> None:
    assert slug_for(clean_post(title="The Big Talk!").front) == "2026-03-02-the-big-talk"


@pytest.mark.slow  # several CLI runs, about 1 s each
def test_approve_needs_a_site_folder_and_a_valid_draft(drafts: Drafts, site: Path) -> None:
    draft = drafts.write("episode", clean_post())
    config = drafts.config_toml()
    result = podpost(config, "approve", "episode")
    assert (result.returncode, result.stderr) == (
        2,
        "error: no site content folder to approve into; pass --to SITE_CONTENT_DIR or set "
        "site_dir in podpost.toml\n",
    )
    missing = podpost(config, "approve", "episode", "--to", str(site / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: site content folder {site / 'nope'} does not exist")
    draft.write_text(draft.read_text("utf-8") + "\n", "utf-8")
    broken = podpost(config, "approve", "episode", "--to", str(site))
    assert broken.returncode == 2
    assert "does not pass the post check: line" in broken.stderr
    assert "file ends with a newline" in broken.stderr
    assert list(site.iterdir()) == []


@pytest.mark.slow  # several CLI runs, about 1 s each
def test_reject_records_the_decision(drafts: Drafts, site: Path) -> None:
    draft = drafts.write("episode", clean_post())
    drafts.write("other", clean_post(title="Other", summary=""))
    config = drafts.config_toml()
    assert podpost(config, "reject", "episode", "--reason", "  ").returncode == 2
    result = podpost(config, "reject", "episode", "--reason", "off topic for the blog")
    assert (result.returncode, result.stdout) == (
        0,
        "rejected episode.md: off topic for the blog\n",
    )
    assert review_state(drafts.db, draft) == "rejected"
    decision = load_record(drafts.db, draft).decisions[-1]  # type: ignore[union-attr]
    assert (decision.state, decision.reason) == ("rejected", "off topic for the blog")
    # Decided drafts come after the ones still waiting for review.
    listed = json.loads(podpost(config, "review", "--json").stdout)["drafts"]
    assert [(Path(d["path"]).name, d["state"]) for d in listed] == [
        ("other.md", "drafted"),
        ("episode.md", "rejected"),
    ]


def _unfinished_post():  # turn 3 without a translation, and no summary
    data = clean_post(summary="").model_dump()
    data["sections"][1]["turns"][0]["translation"] = []
    return type(clean_post()).model_validate(data)


def test_a_draft_with_error_flags_is_refused_until_override(
    drafts: Drafts, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = drafts.write("episode", _unfinished_post())
    config = str(drafts.config_toml(site_dir=str(site)))
    before = _tree(drafts.root)
    code, out, err = cli(["--config", config, "approve", "episode"], capsys)
    assert (code, out) == (ApprovalRefusedError.exit_code, "")
    assert code == 7
    assert err == (
        "error: episode.md has 2 error flags (1 failed-translation, 1 missing-front-matter); "
        f"fix them (`podpost review {draft}` lists every flag), or pass --override to "
        "publish with them\n"
    )
    assert _tree(drafts.root) == before  # nothing published, nothing recorded
    code, out, err = cli(["--config", config, "approve", "episode", "--override"], capsys)
    assert code == 0, err
    assert err == (
        "warning: approved with: turn 3 (Ada Brook) has no translation; translate it or rerun "
        "with --retry-failed\n"
        "warning: approved with: front matter 'summary' is empty\n"
    )
    target = next(site.iterdir())
    assert out == f"approved episode.md; wrote {target}\n"
    assert review_state(drafts.db, draft) == "approved"


def test_one_error_flag_is_named_in_the_singular(drafts: Drafts, site: Path) -> None:
    draft = drafts.write("episode", clean_post(summary=""))
    with pytest.raises(ApprovalRefusedError) as refused:
        approve(draft, site, db=drafts.db)
    assert str(refused.value) == (
        "episode.md has 1 error flag (1 missing-front-matter); fix it (`podpost review "
        f"{draft}` lists every flag), or pass --override to publish with it"
    )
    assert list(site.iterdir()) == []


def test_a_rejected_draft_is_refused_until_edited_or_override(
    drafts: Drafts, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = drafts.write("episode", clean_post())
    config = str(drafts.config_toml(site_dir=str(site)))
    assert cli(["--config", config, "reject", "episode", "--reason", "off topic"], capsys)[0] == 0
    code, out, err = cli(["--config", config, "approve", "episode"], capsys)
    assert (code, out, err) == (
        7,
        "",
        "error: episode.md was rejected (off topic); edit the draft to reopen it, or pass "
        "--override to approve it as it is\n",
    )
    assert list(site.iterdir()) == []
    assert review_state(drafts.db, draft) == "rejected"
    # Overriding approves the text as it is; the decision is recorded.
    code, out, err = cli(["--config", config, "approve", "episode", "--override"], capsys)
    assert (code, err) == (0, "")
    assert review_state(drafts.db, draft) == "approved"
    assert [d.state for d in load_record(drafts.db, draft).decisions] == ["rejected", "approved"]  # type: ignore[union-attr]


def test_an_edited_rejected_draft_is_open_again(drafts: Drafts, site: Path) -> None:
    draft = drafts.write("episode", clean_post())
    reject(draft, "summary is wrong", db=drafts.db)
    with pytest.raises(ApprovalRefusedError):
        approve(draft, site, db=drafts.db)
    draft.write_text(render_post(clean_post(summary="改过的摘要。")), "utf-8")
    assert review_state(drafts.db, draft) == "edited"
    result = approve(draft, site, db=drafts.db)
    assert (result.written, result.flags) == (True, ())
    assert parse_post(result.target.read_text("utf-8")).front.summary == "改过的摘要。"
