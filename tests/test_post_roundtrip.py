"""Parsing then rendering gives the same bytes: the reference post and our golden posts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.models import Post
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from tests.post_helpers import REFERENCE, golden_posts, podpost


def test_reference_round_trips_byte_for_byte_through_the_cli():
    parsed = podpost("post", "parse", str(REFERENCE))
    assert parsed.returncode == 0, parsed.stderr
    rendered = podpost("post", "render", "-", stdin=parsed.stdout)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout == REFERENCE.read_bytes()
    checked = podpost("post", "check", str(REFERENCE))
    assert (checked.returncode, checked.stdout) == (0, b"")


def test_reference_parses_into_the_expected_structure():
    post = parse_post(REFERENCE.read_text(encoding="utf-8"))
    assert post.front.date == "2026-01-15"
    assert post.front.draft is True
    assert post.front.media_books == []
    assert len(post.sections) == 12
    assert all(section.heading for section in post.sections)
    assert len(post.turns) == 63
    assert {turn.speaker for turn in post.turns} == {"Matt Turk", "Pavel Izmailov"}
    assert all(turn.source_language == "English" for turn in post.turns)


def test_there_are_enough_golden_posts():
    assert len(golden_posts()) >= 4


@pytest.mark.parametrize("path", golden_posts(), ids=lambda p: p.stem)
def test_golden_post_parses_to_its_json_and_renders_back(path: Path):
    text = path.read_text(encoding="utf-8")
    expected = Post.model_validate_json(path.with_suffix(".json").read_text(encoding="utf-8"))
    post = parse_post(text)
    assert post == expected
    assert render_post(post) == text
    assert check_post(text) == []


@pytest.mark.parametrize("path", golden_posts(), ids=lambda p: p.stem)
def test_golden_post_round_trips_through_the_cli(path: Path, tmp_path: Path):
    parsed = podpost("post", "parse", str(path))
    assert parsed.returncode == 0, parsed.stderr
    assert json.loads(parsed.stdout) == json.loads(path.with_suffix(".json").read_bytes())
    source = tmp_path / "post.json"
    source.write_bytes(parsed.stdout)
    out = tmp_path / "out.md"
    rendered = podpost("post", "render", str(source), "-o", str(out))
    assert rendered.returncode == 0, rendered.stderr
    assert out.read_bytes() == path.read_bytes()


def test_goldens_cover_what_the_issue_asks_for():
    posts = {p.stem: parse_post(p.read_text(encoding="utf-8")) for p in golden_posts()}
    all_posts = list(posts.values())
    assert any(all(s.heading is None for s in p.sections) for p in all_posts)  # no headings
    assert any(len({t.speaker for t in p.turns}) >= 3 for p in all_posts)
    assert any(len(t.translation) > 1 for p in all_posts for t in p.turns)
    assert any(t.source_language != "English" for p in all_posts for t in p.turns)
    assert any(t.translation == [] for p in all_posts for t in p.turns)  # a failed turn
    fronts = [p.front for p in all_posts]
    assert any(f.media_books == [] for f in fronts) and any(f.media_books for f in fronts)
    hostile = posts["hostile-text"].front
    assert (hostile.title, hostile.author, hostile.guest) == ("yes", "123", "a: b")
    assert hostile.speaker.startswith("@") and hostile.summary.startswith("#")
    assert "Conan O'Brien" in hostile.people and '"Doc" Brown' in hostile.people
