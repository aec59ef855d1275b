"""Honest flags: each turn checked against its own original, in `review`, `--json`, the
preview and `approve`, plus the per-turn quality signal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main as cli_main
from pipeline.fsutil import write_atomic
from pipeline.models import Post
from pipeline.review.flags import review_post, sha256_text
from pipeline.review.preview import create_app
from pipeline.review.quality import TurnContext, copied_run, guess_target, turn_quality
from tests.fixtures.review import Drafts, clean_post, podpost, preview_client, write_episode

# turn 2's original is "Thanks for having me, it is great to be here." (46 characters)
HUGE = "谢谢邀请，很高兴来到这里。" * 17_700  # 230,100 characters: 5,000x the original
ENGLISH = "Because a model's knowledge goes stale, and a vector database lets it look up fresh"


def _with_turns(post: Post, changes: dict[int, list[str]]) -> Post:
    """``post`` with the translations of some turns (1-based) replaced."""
    data = post.model_dump()
    turns = [turn for section in data["sections"] for turn in section["turns"]]
    for number, translation in changes.items():
        turns[number - 1]["translation"] = translation
    return Post.model_validate(data)


def _flawed() -> Post:
    """Turn 2 5,000x its original, turn 4 left in English, turn 6 without its number."""
    post = clean_post()
    data = post.model_dump()
    last = data["sections"][1]["turns"][-1]
    last["original"] = "Usually it adds 30 milliseconds, which users barely notice."
    last["translation"] = ["通常只多几十毫秒，用户基本感觉不到。"]
    return _with_turns(
        Post.model_validate(data), {2: [HUGE], 4: [ENGLISH + " documents before it answers."]}
    )


def _editorial_json(folder: Path, glossary: list[dict[str, str]] | None = None) -> None:
    summary = {"target_language": "zh-CN", "glossary": glossary or [], "failures": []}
    write_atomic(folder / "editorial.json", json.dumps(summary, ensure_ascii=False))


def test_turn_checks_find_each_problem_and_nothing_in_a_clean_post() -> None:
    assert review_post(clean_post(), context=TurnContext("zh-CN")) == []
    flags = review_post(_flawed(), context=TurnContext("zh-CN"))
    kinds = [(f.kind, f.severity, f.turn) for f in flags]
    assert kinds == [
        ("untranslated", "error", 4),
        ("length-ratio", "error", 2),
        ("lost-number", "error", 6),
    ]  # the episode-relative length-off skips originals under 60 characters: not turn 2
    assert flags[1].message == (
        "turn 2 (Leo Park): the translation is 5,113.33x its original's length, far longer "
        "than a translation into zh-CN can be (invented or dropped text)"
    )
    assert flags[0].message == "turn 4 (Leo Park): the translation is not in zh-CN; translate it"
    assert flags[2].message == (
        "turn 6 (Leo Park): number 30 of the original missing from the translation"
    )


def test_names_glossary_and_copied_words_are_checked_against_the_turn() -> None:
    post = _with_turns(
        clean_post(),
        {
            1: ["欢迎收听本期节目。今天我们请到了帕克，他负责工程。"],  # Leo Park transliterated
            3: ["我们先聊聊 Let's start with retrieval augmented generation. Why is everybody"],
        },
    )
    context = TurnContext("zh-CN", (("vector database", "向量数据库"),))
    flags = review_post(post, context=context)
    found = {(f.kind, f.turn) for f in flags if f.severity == "error"}
    assert found == {("lost-name", 1), ("glossary-term", 1), ("untranslated", 3)}
    [copied] = [f for f in flags if f.kind == "untranslated"]
    assert copied.message == (
        "turn 3 (Ada Brook): 10 words are copied untranslated from the original "
        '("let s start with retrieval augmented …"); translate them'
    )
    # the glossary's translation present clears the glossary flag
    assert not [f for f in review_post(clean_post(), context=context) if f.kind == "glossary-term"]


def test_copied_run_and_guessed_target() -> None:
    assert copied_run("a b c d e f g h i j k l", "x a b c d e f g h i j k y") == list("abcdefghijk")
    assert copied_run("a b c d e f g h i", "a b c d e f g h i") == []  # 9 words: fine
    assert guess_target(clean_post()) == "zh"
    assert guess_target(_with_turns(clean_post(), {n: ["hola"] for n in range(1, 7)})) == ""


def test_quality_signal_per_turn() -> None:
    quality = turn_quality(_flawed(), TurnContext("zh-CN"))
    scores = [q.score for q in quality]
    assert scores[0] == scores[2] == 1.0 and scores[4] == 1.0
    assert scores[1] == 0.0  # 5,000x: far off the episode's usual ratio
    assert scores[3] == 0.0  # no Chinese at all
    assert scores[5] == 0.0 and quality[5].numbers == (0, 1)
    assert quality[1].length_z is not None and quality[1].length_z > 10
    assert quality[0].to_dict() == {
        "score": 1.0, "script": 0.94, "length_ratio": 0.38, "length_z": quality[0].length_z,
        "numbers": [0, 0], "names": [1, 1], "terms": [0, 0],
    }  # fmt: skip
    assert quality[5].describe().startswith("quality 0.00 (script 100%, length z")
    assert quality[5].describe().endswith("numbers 0/1)")


def _flawed_draft(drafts: Drafts) -> Path:
    folder = write_episode(drafts.episodes_dir, clean_post())
    _editorial_json(folder)
    return drafts.write("episode", _flawed())


def test_review_json_flags_each_turn_with_its_quality(drafts: Drafts) -> None:
    draft = _flawed_draft(drafts)
    result = podpost(drafts.config_toml(), "review", str(draft), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(t["turn"], t["flags"]) for t in data["turns"]] == [
        (1, []),
        (2, ["length-ratio"]),
        (3, []),
        (4, ["untranslated"]),
        (5, []),
        (6, ["lost-number"]),
    ]
    assert [t["quality"]["score"] for t in data["turns"]] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert data["counts"] == {"error": 3, "warning": 0, "info": 0}

    text = podpost(drafts.config_toml(), "review", str(draft))
    lines = text.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines if line.startswith("turn ")] == [
        "turn 2", "turn 4", "turn 6",
    ]  # fmt: skip
    assert "quality 0.00" in next(line for line in lines if line.startswith("turn 6"))


def test_preview_shows_each_flag_and_quality_on_its_turn(drafts: Drafts) -> None:
    draft = _flawed_draft(drafts)
    client = preview_client(create_app(draft, episodes_dir=drafts.episodes_dir, db=drafts.db))
    page = client.get("/")
    assert page.headers["ETag"] == f'"{sha256_text(draft.read_text("utf-8"))}"'
    html = page.text
    for number, kind in ((2, "length-ratio"), (4, "untranslated"), (6, "lost-number")):
        turn = html.split(f'id="turn-{number}"', 1)[1].split('class="pair"', 1)[0]
        assert f'<li class="error" data-kind="{kind}">' in turn, (number, kind)
        assert 'class="quality low" data-score="0.0"' in turn
    first = html.split('id="turn-1"', 1)[1].split('class="pair"', 1)[0]
    assert 'class="quality" data-score="1.0"' in first and "data-kind" not in first


def _only_lost_number() -> Post:
    clean = clean_post().turns
    return _with_turns(_flawed(), {2: clean[1].translation, 4: clean[3].translation})


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: _with_turns(clean_post(), {2: [HUGE]}), "length-ratio"),
        (lambda: _with_turns(clean_post(), {4: [ENGLISH]}), "untranslated"),
        (_only_lost_number, "lost-number"),
    ],
    ids=["5000x", "untranslated", "lost-number"],
)
def test_approve_refuses_each_until_override(
    drafts: Drafts, tmp_path: Path, capsys: pytest.CaptureFixture[str], make, kind: str
) -> None:
    _editorial_json(write_episode(drafts.episodes_dir, clean_post()))
    drafts.write("episode", make())
    site = tmp_path / "site"
    site.mkdir()
    config = str(drafts.config_toml(site_dir=str(site)))
    with pytest.raises(SystemExit) as refused:
        cli_main(["--config", config, "approve", "episode"])
    assert refused.value.code == 7
    err = capsys.readouterr().err
    assert err.startswith(f"error: episode.md has 1 error flag (1 {kind}); fix it"), err
    assert list(site.iterdir()) == []
    with pytest.raises(SystemExit) as done:
        cli_main(["--config", config, "approve", "episode", "--override"])
    assert done.value.code in (0, None)
    assert len(list(site.iterdir())) == 1


def test_the_editorial_checks_review_shares() -> None:
    from pipeline.editorial.validate import length_ratio_off, missing_numbers

    original = "We raised 10,000 dollars in 2024 and 350000000 more"
    assert missing_numbers(original, "我们筹了1万美元，又筹了3.5亿") == ["2024"]
    assert missing_numbers("about 1 million users", "大约100万用户") == []
    # a short original may become a short sentence, never a page
    assert length_ratio_off("Yes.", "是的，没错，我完全同意你的看法。", "zh-CN") is None
    assert length_ratio_off("Yes.", "是" * 65, "zh-CN") == 16.25
    assert length_ratio_off("Yes.", "", "zh-CN") is None  # too short to say it is too short
    assert length_ratio_off("x" * 100, "是" * 7, "zh-CN") == 0.07
    assert length_ratio_off("x" * 100, "y" * 31, "es") is None
