"""Whose post is in the site folder: `approve` never replaces another episode's post (told
apart by the front matter's `source`), not even with --force, and says how to publish under
another name; `reject` refuses a draft whose approval is still published."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import DraftConflictError
from pipeline.post.parse import parse_post
from pipeline.review.flags import review_state
from tests.cli_helpers import cli
from tests.fixtures.review import SOURCE, Drafts, clean_post

OTHER = "https://example.com/another-episode"


@pytest.fixture
def site(drafts: Drafts) -> Path:
    folder = drafts.root / "site"
    folder.mkdir()
    return folder


@pytest.fixture
def config(drafts: Drafts, site: Path) -> Path:
    return drafts.config_toml(site_dir=str(site))


def _podpost(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    return cli(["--config", str(config), *args], capsys)


def test_another_episodes_post_with_the_same_slug_is_never_replaced(
    drafts: Drafts, site: Path, config: Path, capsys
) -> None:
    drafts.write("first", clean_post(title="Yi talk"))
    second = drafts.write("second", clean_post(title="Yi talk", source=OTHER))
    assert _podpost(config, capsys, "approve", "first")[0] == 0
    target = site / "2026-03-02-yi-talk.md"
    published = target.read_bytes()
    for force in ([], ["--force"]):
        code, out, err = _podpost(config, capsys, "approve", "second", *force)
        assert (code, out) == (DraftConflictError.exit_code, "")
        assert err == (
            f"error: {target} is another episode's post (source: {SOURCE}), with the same "
            "date and title; --force does not replace another episode's post; publish this "
            f"one under another name: podpost approve {second} --slug 2026-03-02-yi-talk-2 "
            "(or change its title); if it is the same talk, reject one of the drafts\n"
        )
        assert target.read_bytes() == published
        assert review_state(drafts.db, second) == "drafted"

    # the command the hint gives publishes it beside the first
    code, out, err = _podpost(config, capsys, "approve", "second", "--slug", "2026-03-02-yi-talk-2")
    beside = site / "2026-03-02-yi-talk-2.md"
    assert (code, out, err) == (0, f"approved second.md; wrote {beside}\n", "")
    assert parse_post(beside.read_text("utf-8")).front.source == OTHER
    assert target.read_bytes() == published
    assert {p.name for p in site.iterdir()} == {target.name, beside.name}


def test_the_suggested_slug_skips_names_taken_by_other_episodes(
    drafts: Drafts, site: Path, config: Path, capsys
) -> None:
    drafts.write("a", clean_post(title="Yi talk"))
    drafts.write("b", clean_post(title="Yi talk", source=OTHER))
    third = drafts.write("c", clean_post(title="Yi talk", source=OTHER + "-3"))
    assert _podpost(config, capsys, "approve", "a")[0] == 0
    assert _podpost(config, capsys, "approve", "b", "--slug", "2026-03-02-yi-talk-2")[0] == 0
    code, _out, err = _podpost(config, capsys, "approve", str(third))
    assert code == 7
    assert f"podpost approve {third} --slug 2026-03-02-yi-talk-3 " in err


def test_force_still_replaces_this_episodes_older_version(
    drafts: Drafts, site: Path, config: Path, capsys
) -> None:
    draft = drafts.write("first", clean_post(title="Yi talk"))
    assert _podpost(config, capsys, "approve", "first")[0] == 0
    draft.write_text(draft.read_text("utf-8").replace("summary: Leo", "summary: 改过 Leo"), "utf-8")
    target = site / "2026-03-02-yi-talk.md"
    code, _out, err = _podpost(config, capsys, "approve", "first")
    assert (code, err) == (
        7,
        f"error: {target} already exists with different content; pass --force to replace "
        "it, or change the post's title or date\n",
    )
    assert _podpost(config, capsys, "approve", "first", "--force")[0] == 0
    assert parse_post(target.read_text("utf-8")).front.summary.startswith("改过 Leo")


def test_a_slug_without_letters_or_digits_is_a_usage_error(
    drafts: Drafts, config: Path, capsys
) -> None:
    drafts.write("first", clean_post(title="Yi talk"))
    code, out, err = _podpost(config, capsys, "approve", "first", "--slug", "../..")
    assert (code, out) == (2, "")
    assert err == (
        "error: --slug '../..' has no letters or digits; use letters, digits and hyphens\n"
    )


def test_reject_refuses_a_published_draft_until_the_site_file_is_deleted(
    drafts: Drafts, site: Path, config: Path, capsys
) -> None:
    draft = drafts.write("first", clean_post(title="Yi talk"))
    assert _podpost(config, capsys, "approve", "first")[0] == 0
    target = site / "2026-03-02-yi-talk.md"
    code, out, err = _podpost(config, capsys, "reject", "first", "--reason", "off topic")
    assert (code, out) == (DraftConflictError.exit_code, "")
    assert err == (
        f"error: first.md is published as {target}; rejecting it would leave the post on "
        f"the site; to unpublish it, delete {target}, then reject again\n"
    )
    assert review_state(drafts.db, draft) == "approved" and target.is_file()
    target.unlink()
    code, out, err = _podpost(config, capsys, "reject", "first", "--reason", "off topic")
    assert (code, out, err) == (0, "rejected first.md: off topic\n", "")
    assert review_state(drafts.db, draft) == "rejected"
