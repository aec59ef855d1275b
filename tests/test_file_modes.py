"""Files podpost writes follow the umask, and a file it replaces keeps its mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.fsutil import write_atomic
from pipeline.post.parse import parse_post
from pipeline.post.render import render_post
from pipeline.review.drafts import write_draft
from pipeline.review.flags import sha256_text
from pipeline.review.preview import Edits, save_edits
from pipeline.review.publish import approve
from tests.fixtures.review import Drafts, clean_post


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert _mode(write_atomic(tmp_path / "a.md", "a")) == 0o644
        os.umask(0o077)
        assert _mode(write_atomic(tmp_path / "b.md", "b")) == 0o600
        os.umask(0o002)
        assert _mode(write_atomic(tmp_path / "sub" / "c.md", b"c")) == 0o664
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.md", "b.md", "c.md", "sub"]


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "post.md"
    path.write_text("old", "utf-8")
    path.chmod(0o640)
    write_atomic(path, "new")
    assert (path.read_text("utf-8"), _mode(path)) == ("new", 0o640)
    path.chmod(0o604)
    write_atomic(path, "newer")
    assert (path.read_text("utf-8"), _mode(path)) == ("newer", 0o604)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text("old", "utf-8")
    with pytest.raises(TypeError):
        write_atomic(path, 3)  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["post.md"]
    assert path.read_text("utf-8") == "old"


def test_drafts_and_approved_posts_are_0644_under_umask_022(
    drafts: Drafts, tmp_path: Path, umask_022: None
) -> None:
    written = write_draft(drafts.drafts_dir, "youtube-abc", render_post(clean_post()), db=drafts.db)
    files = [p for p in drafts.drafts_dir.rglob("*") if p.is_file()]
    assert files == [written.path]  # its review record is in the state database
    assert {p.name: _mode(p) for p in files} == {p.name: 0o644 for p in files}
    site = tmp_path / "site"
    site.mkdir()
    approval = approve(written.path, site, db=drafts.db)
    assert approval.written
    assert _mode(approval.target) == 0o644


def test_saving_in_the_preview_keeps_the_draft_mode(drafts: Drafts, umask_022: None) -> None:
    draft = drafts.write("episode", clean_post())
    assert _mode(draft) == 0o644
    for mode in (0o644, 0o640):
        draft.chmod(mode)
        text = draft.read_text("utf-8")
        post = parse_post(text)
        front = post.front.model_dump()
        front["insight"] = f"mode {mode:o}"
        edits = Edits(
            base_sha256=sha256_text(text),
            front=front,
            speakers={t.speaker: t.speaker for t in post.turns},
            headings=[s.heading for s in post.sections],
            translations=["\n".join(t.translation) for t in post.turns],
        )
        save_edits(draft, edits)
        assert parse_post(draft.read_text("utf-8")).front.insight == f"mode {mode:o}"
        assert _mode(draft) == mode
