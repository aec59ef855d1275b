"""`podpost review`: every planted problem is reported, most urgent first, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.models import Post, Section, Turn, Turns
from pipeline.post.render import render_post
from pipeline.review.flags import (
    generation_record,
    glossary_terms,
    is_edited,
    review_post,
    review_state,
    source_link,
    turn_times,
)
from tests.fixtures.review import Drafts, clean_post, episode_turns, podpost, write_episode


def _with_turn(post: Post, number: int, **changes: object) -> Post:
    """A copy of ``post`` with turn ``number`` (1-based) changed."""
    data = post.model_dump()
    seen = 0
    for section in data["sections"]:
        for turn in section["turns"]:
            seen += 1
            if seen == number:
                turn.update(changes)
    return Post.model_validate(data)


def _renamed(post: Post, old: str, new: str) -> Post:
    data = post.model_dump()
    for section in data["sections"]:
        for turn in section["turns"]:
            if turn["speaker"] == old:
                turn["speaker"] = new
    return Post.model_validate(data)


def _kinds(flags: list[dict]) -> list[tuple[str, str, int | None, str | None]]:
    return [(f["kind"], f["severity"], f["turn"], f["field"]) for f in flags]


def test_clean_post_has_no_flags() -> None:
    post = clean_post()
    assert review_post(post, text=render_post(post)) == []


def _plant_problems(drafts: Drafts) -> dict[str, list[tuple[str, str, int | None, str | None]]]:
    """One draft per kind of problem, plus one with several; returns the expected flags."""
    post = clean_post()
    write_episode(drafts.episodes_dir, post)
    drafts.write("clean", post)
    drafts.write("failed", _with_turn(post, 3, translation=[]))
    long_answer = ["通常只多几十毫秒，用户基本感觉不到，索引做得好的话更快。" * 3]
    drafts.write(
        "length",
        _with_turn(_with_turn(post, 4, translation=["是的。"]), 6, translation=long_answer),
    )
    odd_term = ["因为模型的知识会过时，而 **矢量数据库**（Vector Database）可以查到最新的文档。"]
    drafts.write("terms", _with_turn(post, 4, translation=odd_term))
    drafts.write("speaker", _renamed(post, "Leo Park", "Speaker 2"))
    drafts.write("front", clean_post(summary="", tags=[]))
    no_heading = post.model_copy(
        update={"sections": [Section(heading=None, turns=post.sections[0].turns), post.sections[1]]}
    )
    drafts.write("heading", no_heading)
    edited = drafts.write("edited", post)
    edited.write_text(render_post(_with_turn(post, 2, translation=["谢谢，很高兴来。"])), "utf-8")
    broken = drafts.write("broken", post, generated=False)
    broken.write_text(render_post(post) + "\n", "utf-8")
    # A speaker the naming step could not identify (turns.json says known: false).
    other = clean_post(source="https://example.org/episodes/42.mp3")
    write_episode(drafts.episodes_dir, other, "url-42", unknown=frozenset({"Ada Brook"}))
    drafts.write("named-by-turns", other)
    several = _renamed(_with_turn(post, 5, translation=[]), "Ada Brook", "SPEAKER_00")
    drafts.write("several", several.model_copy(update={"front": clean_post(title="").front}))
    last = len(render_post(post).split("\n")) + 1
    return {
        "several": [
            ("failed-translation", "error", 5, None),
            ("missing-front-matter", "error", None, "title"),
            ("unknown-speaker", "warning", 1, None),
        ],
        "broken": [("format", "error", None, None)],
        "failed": [("failed-translation", "error", 3, None)],
        "front": [
            ("missing-front-matter", "error", None, "summary"),
            ("missing-front-matter", "warning", None, "tags"),
        ],
        # "是的。" for a 150-character original: far too short for any translation (an
        # error), and far off the post's usual ratio (a warning); turn 6 only the latter
        "length": [
            ("length-ratio", "error", 4, None),
            ("length-off", "warning", 4, None),
            ("length-off", "warning", 6, None),
        ],
        "named-by-turns": [("unknown-speaker", "warning", 1, None)],
        "speaker": [("unknown-speaker", "warning", 2, None)],
        "terms": [("inconsistent-term", "warning", 4, None)],
        "heading": [("no-heading", "info", 1, None)],
        "edited": [("edited", "info", None, None)],
        "clean": [],
        "_last_line": last,  # type: ignore[dict-item]
    }


def test_review_json_reports_every_planted_problem(drafts: Drafts) -> None:
    expected = _plant_problems(drafts)
    last_line = expected.pop("_last_line")
    result = podpost(drafts.config_toml(), "review", "--json")
    assert result.returncode == 0, result.stderr
    reported = json.loads(result.stdout)["drafts"]
    by_name = {Path(d["path"]).stem: d for d in reported}
    assert {name: _kinds(d["flags"]) for name, d in by_name.items()} == expected
    # Most urgent first: by the worst flag (a broken file first), then by how many flags.
    assert [Path(d["path"]).stem for d in reported] == [
        "broken", "several", "failed", "length", "front", "named-by-turns", "speaker", "terms",
        "heading", "edited", "clean",
    ]  # fmt: skip
    broken = by_name["broken"]["flags"][0]
    assert broken["message"] == (
        f"line {last_line - 1}: file ends with a newline; a post ends right after </details>"
    )
    terms = by_name["terms"]["flags"][0]
    assert terms["turns"] == [1, 4]
    assert terms["message"] == (
        "term 'vector database' is translated 2 ways: "
        "'向量数据库' in turn 1; '矢量数据库' in turn 4"
    )
    assert by_name["speaker"]["flags"][0]["turns"] == [2, 4, 6]
    assert by_name["heading"]["flags"][0]["turns"] == [1, 2]
    assert by_name["edited"]["state"] == "edited"
    assert by_name["clean"]["state"] == "drafted"


def test_review_one_draft_turn_by_turn(drafts: Drafts) -> None:
    post = _with_turn(clean_post(), 3, translation=[])
    write_episode(drafts.episodes_dir, clean_post())
    path = drafts.write("one", _renamed(post, "Leo Park", "Speaker 2"))
    config = drafts.config_toml()
    text = podpost(config, "review", "one")
    assert text.returncode == 0, text.stderr
    link = "https://www.youtube.com/watch?v=abcDEF12345&t="
    assert text.stdout.splitlines() == [
        f"{path}  [drafted]  1 error, 1 warning",
        "向量数据库与检索增强生成——专访 Leo Park",
        f"turn 2  Speaker 2  0:37  {link}37s  quality 1.00 (script 100%, length z +0.0)",
        "  warning unknown-speaker       speaker 'Speaker 2' is a placeholder (3 turns); "
        "give the real name",
        f"turn 3  Ada Brook  1:14  {link}74s  quality -",
        "  error   failed-translation    turn 3 (Ada Brook) has no translation; translate it or "
        "rerun with --retry-failed",
        f"turn 4  Speaker 2  1:51  {link}111s  quality 1.00 (script 100%, length z +0.5)",
        "  warning unknown-speaker       speaker 'Speaker 2' is a placeholder (3 turns); "
        "give the real name",
        f"turn 6  Speaker 2  3:05  {link}185s  quality 1.00 (script 100%, length z +0.0)",
        "  warning unknown-speaker       speaker 'Speaker 2' is a placeholder (3 turns); "
        "give the real name",
    ]
    data = json.loads(podpost(config, "review", str(path), "--json").stdout)
    assert [(t["turn"], t["start"], t["flags"]) for t in data["turns"]] == [
        (1, 0.0, []),
        (2, 37.0, ["unknown-speaker"]),
        (3, 74.0, ["failed-translation"]),
        (4, 111.0, ["unknown-speaker"]),
        (5, 148.0, []),
        (6, 185.0, ["unknown-speaker"]),
    ]


def test_review_of_a_missing_draft_is_one_clear_line(drafts: Drafts) -> None:
    result = podpost(drafts.config_toml(), "review", "nope")
    assert result.returncode == 2
    assert result.stderr.startswith("error: nope: no such draft")
    assert "Traceback" not in result.stderr


def test_review_of_a_data_folder_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    config = tmp_path / "podpost.toml"
    config.write_text(f'data_dir = "{tmp_path / "typo"}"\n')
    result = podpost(config, "review")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: drafts folder {tmp_path / 'typo' / 'drafts'} does")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "typo").exists()  # no folder, no state database


def test_glossary_terms_accept_both_parenthesis_styles() -> None:
    post = _with_turn(clean_post(), 3, translation=["我们先聊聊 **检索增强生成** (RAG)。"])
    post = _with_turn(post, 5, translation=["**检索增强**（rag）呢？"])
    assert glossary_terms(post) == {
        "vector database": {"向量数据库": [1]},
        "rag": {"检索增强生成": [3], "检索增强": [5]},
    }


def test_turn_times_match_by_text_then_by_position() -> None:
    post = clean_post()
    turns = episode_turns(post)
    assert turn_times(post, turns) == [0.0, 37.0, 74.0, 111.0, 148.0, 185.0]
    # The transcript has an extra turn the post dropped: text matching skips it.
    extra = Turn(id=99, speaker="X", start=5.0, end=6.0, text="Mm-hm.")
    shifted = Turns(language="en", turns=[turns.turns[0], extra, *turns.turns[1:]])
    assert turn_times(post, shifted) == [0.0, 37.0, 74.0, 111.0, 148.0, 185.0]
    # Texts that no longer match (edited originals) but the same count: by position.
    reworded = Turns(language="en", turns=[t.model_copy(update={"text": "x"}) for t in turns.turns])
    assert turn_times(post, reworded) == [0.0, 37.0, 74.0, 111.0, 148.0, 185.0]
    assert turn_times(post, None) == [None] * 6


@pytest.mark.parametrize(
    ("url", "seconds", "link"),
    [
        ("https://www.youtube.com/watch?v=abc&t=5s", 61.7, "https://www.youtube.com/watch?v=abc&t=61s"),
        ("https://youtu.be/abc", 3, "https://youtu.be/abc?t=3s"),
        ("https://example.org/ep.mp3", 90, "https://example.org/ep.mp3#t=90"),
        ("file:///tmp/ep.mp3", 90, None),
        ("https://www.youtube.com/watch?v=abc", None, None),
    ],
)  # fmt: skip
def test_source_link_points_at_the_turn(url: str, seconds: float | None, link: str | None) -> None:
    assert source_link(url, seconds) == link


def test_review_state_follows_the_draft(drafts: Drafts) -> None:
    post = clean_post()
    path = drafts.write("state", post)
    assert (review_state(drafts.db, path), is_edited(drafts.db, path)) == ("drafted", False)
    path.write_text(render_post(_with_turn(post, 2, translation=["谢谢。"])), "utf-8")
    assert (review_state(drafts.db, path), is_edited(drafts.db, path)) == ("edited", True)
    generation_record(drafts.db, path, path.read_text("utf-8"))  # the pipeline wrote this text
    assert review_state(drafts.db, path) == "drafted"
    unrecorded = drafts.write("unrecorded", post, generated=False)
    assert (review_state(drafts.db, unrecorded), is_edited(drafts.db, unrecorded)) == (
        "drafted",
        False,
    )
