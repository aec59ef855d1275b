"""The preview's structural edits (pipeline.review.edits): pure, on the review fixtures' post."""

from __future__ import annotations

import pytest

from pipeline.errors import EditError
from pipeline.models import Post
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.review.edits import (
    merge_into_previous,
    original_cuts,
    plain,
    review_turns,
    set_speaker,
    set_translation,
    split_time,
    split_turn,
    translation_cuts,
)
from tests.fixtures.review import clean_post

SPANS = [(i * 37.0, i * 37.0 + 36.0) for i in range(6)]  # as episode_turns lays them out


def _transcript(post: Post) -> str:
    return " ".join(plain(t.original) for t in post.turns)


def _labels_match(post: Post) -> None:
    """Rendered, each turn's label is the same in the translation and in the original."""
    text = render_post(post)
    assert check_post(text) == []
    again = parse_post(text)
    assert [t.speaker for t in again.turns] == [t.speaker for t in post.turns]
    for turn in post.turns:
        label = f"**{turn.speaker}**:"
        assert text.count(f"{label} {turn.original}") == 1  # the original's paragraph
    assert text.count("**Ada Brook**:") + text.count("**Leo Park**:") <= 2 * len(post.turns)


def test_set_speaker_changes_one_turn_only() -> None:
    post = clean_post()
    edited = set_speaker(post, SPANS, 2, "  Mia Chen ")
    assert [t.speaker for t in edited.post.turns] == [
        "Ada Brook", "Mia Chen", "Ada Brook", "Leo Park", "Ada Brook", "Leo Park",
    ]  # fmt: skip
    assert edited.spans == SPANS
    assert _transcript(edited.post) == _transcript(post)
    rendered = render_post(edited.post)
    assert rendered.count("**Mia Chen**:") == 2  # translation and original
    _labels_match(edited.post)


def test_original_and_translation_cut_points() -> None:
    original = "Welcome to the show. Today we have **Leo Park. Really.** here. End"
    cuts = original_cuts(original)
    # after "show.", after the bold span that ends a sentence, after "here."; never inside
    assert [original[:c] for c in cuts] == [
        "Welcome to the show.",
        "Welcome to the show. Today we have **Leo Park. Really.**",
        "Welcome to the show. Today we have **Leo Park. Really.** here.",
    ]
    assert translation_cuts(["第一句。第二句！", "第三段"]) == [(0, 4), (1, 0)]
    assert translation_cuts(["只有一句。"]) == []


def test_split_a_two_sentence_turn_into_two_speakers() -> None:
    post = clean_post()
    number = 4  # Leo: "Because ... answers. It is also cheaper, ..." (two paragraphs)
    original = post.turns[number - 1].original
    [at] = original_cuts(original)
    edited = split_turn(post, SPANS, number, at, "Ada Brook", translation_at=(1, 0))
    turns = edited.post.turns
    assert len(turns) == 7
    assert (turns[3].speaker, turns[4].speaker) == ("Leo Park", "Ada Brook")
    assert turns[3].original.endswith("before it answers.")
    assert turns[4].original.startswith("It is also cheaper")
    assert turns[3].translation == [post.turns[3].translation[0]]
    assert turns[4].translation == [post.turns[3].translation[1]]
    assert _transcript(edited.post) == _transcript(post)
    # the span is cut in proportion to the text, or at the transcript's nearest word end
    start, end = SPANS[3]
    cut = edited.spans[3][1]
    assert edited.spans[3][0] == start and edited.spans[4] == (cut, end)
    share = len(plain(original[:at])) / len(plain(original))
    assert cut == pytest.approx(start + 36 * share)
    snapped = split_turn(post, SPANS, number, at, "Ada Brook", boundaries=[0.5, 140.0, 200.0])
    assert snapped.spans[3] == (start, 140.0) and snapped.spans[4] == (140.0, end)
    assert snapped.post.turns[3].translation == [] == snapped.post.turns[4].translation
    assert len(review_turns(edited.post, edited.spans)) == 7
    _labels_match(edited.post)


def test_split_refuses_a_cut_that_is_not_a_sentence_end() -> None:
    post = clean_post()
    with pytest.raises(EditError, match="cannot be split there"):
        split_turn(post, SPANS, 4, 5, "Ada Brook")
    at = original_cuts(post.turns[3].original)[0]
    with pytest.raises(EditError, match="translation cannot be split there"):
        split_turn(post, SPANS, 4, at, "Ada Brook", translation_at=(0, 3))
    with pytest.raises(EditError, match="turn 5 speaker name: must not be empty"):
        split_turn(post, SPANS, 4, at, "  ")


def test_merge_into_previous_within_and_across_sections() -> None:
    post = clean_post()
    inside = merge_into_previous(post, SPANS, 4)
    turns = inside.post.turns
    assert len(turns) == 5 and turns[2].speaker == "Ada Brook"
    assert turns[2].original == f"{post.turns[2].original} {post.turns[3].original}"
    assert turns[2].translation == post.turns[2].translation + post.turns[3].translation
    assert inside.spans[2] == (SPANS[2][0], SPANS[3][1])
    assert _transcript(inside.post) == _transcript(post)
    _labels_match(inside.post)

    across = merge_into_previous(post, SPANS, 3)  # the first turn of section 2
    assert [len(s.turns) for s in across.post.sections] == [2, 3]
    assert across.post.sections[0].turns[1].speaker == "Leo Park"
    assert _transcript(across.post) == _transcript(post)

    with pytest.raises(EditError, match="turn 1 has no turn before it"):
        merge_into_previous(post, SPANS, 1)


def test_merging_a_section_s_only_turn_drops_its_heading() -> None:
    post = clean_post()
    data = post.model_dump()
    moved = data["sections"][1]["turns"].pop(0)
    data["sections"].insert(1, {"heading": "单独一节", "turns": [moved]})
    post = Post.model_validate(data)
    edited = merge_into_previous(post, SPANS, 3)
    assert [s.heading for s in edited.post.sections] == ["开场与嘉宾介绍", "检索增强生成"]


def test_set_translation_changes_one_turn() -> None:
    post = clean_post()
    edited = set_translation(post, SPANS, 3, ["新的译文。", " ", "第二段。"])
    assert edited.post.turns[2].translation == ["新的译文。", "第二段。"]
    assert [t for i, t in enumerate(edited.post.turns) if i != 2] == [
        t for i, t in enumerate(post.turns) if i != 2
    ]


def test_split_time_stays_inside_the_span() -> None:
    assert split_time((10.0, 20.0), "aaaa. bbbb", 5) == pytest.approx(10 + 10 * 5 / 10)
    assert split_time((10.0, 20.0), "aaaa. bbbb", 5, [9.0, 20.0]) == pytest.approx(15.0)
    assert split_time((10.0, 20.0), "aaaa. bbbb", 5, [11.0, 16.0]) == 16.0
