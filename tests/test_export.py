"""`podpost export`: transcripts read back through podpost's own caption readers exactly,
and chapters validate against the Podcasting 2.0 chapters 1.2 format.

The chapters schema (tests/fixtures/schemas/podcast-chapters-1.2.schema.json) is written
from the spec text, https://github.com/Podcastindex-org/podcast-namespace/blob/main/chapters/jsonChapters.md
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.errors import InputFileError
from pipeline.models import Post
from pipeline.review.export import (
    Cue,
    chapters,
    export_draft,
    export_texts,
    render_srt,
    render_vtt,
    transcript_cues,
)
from pipeline.review.flags import Span
from pipeline.review.publish import approve
from pipeline.transcribe.captions import parse_captions
from tests.fixtures.review import Drafts, clean_post, episode_turns, podpost, write_episode

SCHEMA = Path(__file__).parent / "fixtures" / "schemas" / "podcast-chapters-1.2.schema.json"


def tricky_post() -> Post:
    """The clean interview, with text that looks like markup in both languages."""
    data = clean_post().model_dump()
    turns = data["sections"][1]["turns"]
    turns[0]["original"] += " Is <b>this</b> & that </details> --> {curly} {\\i1} a\\Nb x < 5 safe?"
    turns[1]["translation"][0] += " 比如 a &lt; b 和 <v Eve>假的</v>。"
    # Two turns in a row by one speaker, in Chinese without a space: sentences, not words.
    turns[3]["speaker"] = "Ada Brook"
    return Post.model_validate(data)


def spans_of(post: Post) -> list[Span | None]:
    """Times as turns.json has them: turn i from i*37.0 s to i*37+36 s, plus a fraction."""
    return [(t.start + 0.1234, t.end + 0.5678) for t in episode_turns(post).turns]


def as_read(cues: list[Cue]) -> list[tuple[float, float, str | None, str]]:
    return [(c.start, c.end, c.speaker, c.text) for c in cues]


@pytest.mark.parametrize("fmt", ["vtt", "srt", "json"])
@pytest.mark.parametrize("translated", [False, True])
def test_transcript_reads_back_exactly(fmt: str, translated: bool) -> None:
    post = tricky_post()
    spans = spans_of(post)
    cues = transcript_cues(post, spans, translated=translated)
    lang = "zh-CN" if translated else "en"
    text = export_texts(post, spans, fmt, source_language="en", target_language="zh-CN")[
        f".{lang}.{fmt}"
    ]
    segments = parse_captions(text, fmt)
    assert [(s.start, s.end, s.speaker, s.text) for s in segments] == as_read(cues)
    assert len(cues) == 6
    assert cues[3].start == 111.123 and cues[3].end == 147.568  # 3*37 + .1234, rounded to ms
    if translated:
        assert "查到最新的文档。 比如 a &lt; b 和 <v Eve>假的</v>。 这样" in cues[3].text
        assert cues[0].text.startswith("欢迎收听本期节目。今天我们请到了 Leo Park，")
    else:
        assert cues[2].text.endswith(
            "Is <b>this</b> & that </details> --> {curly} {\\i1} a\\Nb x < 5 safe?"
        )


def test_vtt_and_srt_are_written_as_the_spec_shows() -> None:
    cues = [Cue(0.5, 2.25, "Ada Brook", "Hi & <welcome>"), Cue(3661.0, 3662.001, "Leo", "Thanks")]
    assert render_vtt(cues) == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:02.250\n<v Ada Brook>Hi &amp; &lt;welcome&gt;\n\n"
        "01:01:01.000 --> 01:01:02.001\n<v Leo>Thanks\n"
    )
    assert render_srt(cues) == (
        "1\n00:00:00,500 --> 00:00:02,250\n<v Ada Brook>Hi &amp; &lt;welcome&gt;\n\n"
        "2\n01:01:01,000 --> 01:01:02,001\n<v Leo>Thanks\n\n"
    )


def test_transcript_json_is_podcasting_2_0() -> None:
    post = clean_post()
    texts = export_texts(post, spans_of(post), "json", source_language="en", target_language="en")
    assert list(texts) == [".en.json"]  # an untranslated post: one file
    data = json.loads(texts[".en.json"])
    assert list(data) == ["version", "segments"] and data["version"] == "1.0.0"
    assert data["segments"][1] == {
        "speaker": "Leo Park",
        "startTime": 37.123,
        "endTime": 73.568,
        "body": "Thanks for having me, it is great to be here.",
    }


def test_chapters_validate_against_the_podcasting_2_0_format() -> None:
    post = clean_post()
    texts = export_texts(
        post, spans_of(post), "chapters", source_language="en", target_language="zh-CN"
    )
    assert list(texts) == [".chapters.json"]
    data = json.loads(texts[".chapters.json"])
    jsonschema.validate(data, json.loads(SCHEMA.read_text("utf-8")))
    assert data == {
        "version": "1.2.0",
        "title": post.front.title,
        "podcastName": "Test Talks",
        "chapters": [
            {"startTime": 0.123, "title": "开场与嘉宾介绍"},
            {"startTime": 74.123, "title": "检索增强生成"},
        ],
    }
    starts = [c["startTime"] for c in data["chapters"]]
    assert starts == sorted(starts)  # the spec: ascending startTime


def test_a_turn_without_a_time_is_a_clear_error() -> None:
    post = clean_post()
    spans = spans_of(post)
    spans[2] = None
    with pytest.raises(Exception, match=r"no times for turn 3: the episode's turns.json"):
        transcript_cues(post, spans, translated=False)
    spans[0] = None
    with pytest.raises(Exception, match=r"no times for turns 1, 3"):
        chapters(post, spans)


def test_export_cli_writes_beside_the_approved_post(drafts: Drafts, tmp_path: Path) -> None:
    post = clean_post()
    draft = drafts.write("episode", post)
    write_episode(drafts.episodes_dir, post)
    config = drafts.config_toml()
    refused = podpost(config, "export", "episode", "--format", "vtt")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: episode.md is not approved, so there is no post to export beside; approve it "
        f"first (podpost approve {draft}), or pass --out DIR"
    ]
    site = tmp_path / "site"
    site.mkdir()
    approve(draft, site, db=drafts.db)
    done = podpost(config, "export", "episode", "--format", "srt", "--format", "chapters")
    assert done.returncode == 0, done.stderr
    stem = "2026-03-02-xiang-liang-shu-ju-ku-yu-jian-suo-zeng-qiang-sheng-cheng-zhuan-fang-leo-park"
    names = sorted(p.name for p in site.iterdir())
    assert names == sorted(
        [f"{stem}.md", f"{stem}.en.srt", f"{stem}.zh-CN.srt", f"{stem}.chapters.json"]
    )
    segments = parse_captions((site / f"{stem}.zh-CN.srt").read_text("utf-8"), "srt")
    assert [s.speaker for s in segments] == [t.speaker for t in post.turns]
    assert segments[0].start == 0.0 and segments[5].end == 221.0  # 5*37 + 36


def test_export_without_turns_says_what_is_missing(drafts: Drafts, tmp_path: Path) -> None:
    draft = drafts.write("episode", clean_post())
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputFileError) as raised:
        export_draft(draft, ["json"], target_language="zh-CN", out_dir=out, db=drafts.db)
    assert raised.value.exit_code == 2
    assert raised.value.one_line() == (
        "no times for turns 1, 2, 3, 4, 5 and 1 more: the episode's turns.json is missing or "
        "no longer matches the draft; export needs the episode folder the draft was made "
        "from (`podpost review DRAFT --json` shows each turn's start)"
    )
    assert list(out.iterdir()) == []


def test_a_chinese_json_transcript_is_read_as_sentences_not_words() -> None:
    # Chinese writes sentences without spaces; one speaker's turns in a row stay apart.
    bodies = ["那么延迟呢？用户会不会等太久？", "通常只多几十毫秒，用户基本感觉不到。", "好的。"]
    bodies += ["我们再聊聊成本，这部分很多人关心。", "索引做得好的话更快。"]
    text = json.dumps(
        {"segments": [{"startTime": i, "endTime": i + 1, "body": b} for i, b in enumerate(bodies)]}
    )
    assert [s.text for s in parse_captions(text, "json")] == bodies
    # One word per segment, as some hosts publish, still becomes sentences.
    words = ["我们", "先", "聊聊", "检索", "增强", "生成。"]
    text = json.dumps(
        {"segments": [{"startTime": i, "endTime": i + 1, "body": w} for i, w in enumerate(words)]}
    )
    segments = parse_captions(text, "json")
    assert [(s.start, s.end, s.text) for s in segments] == [(0, 6, "我们 先 聊聊 检索 增强 生成。")]


def test_exports_beside_a_jekyll_post_are_not_named_as_posts(
    drafts: Drafts, tmp_path: Path
) -> None:
    post = clean_post()
    draft = drafts.write("episode", post)
    write_episode(drafts.episodes_dir, post)
    posts = tmp_path / "blog" / "_posts"
    posts.mkdir(parents=True)
    target = approve(draft, posts, site="jekyll", db=drafts.db).target
    written = export_draft(
        draft, ["json"], target_language="zh-CN", episodes_dir=drafts.episodes_dir, db=drafts.db
    )
    slug = target.stem.removeprefix("2026-03-02-")
    assert [p.name for p in written] == [f"{slug}.en.json", f"{slug}.zh-CN.json"]
    assert all(p.parent == posts.resolve() for p in written)
