"""Golden posts rendered by a CommonMark renderer, as the blog does: text stays text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipeline.models import Post
from pipeline.post.parse import parse_post
from tests.post_helpers import golden_posts

ALLOWED_TAGS = {"p", "strong", "details", "summary", "h3"}


@dataclass
class _Page(HTMLParser):
    tags: list[str] = field(default_factory=list)
    paragraphs: list[tuple[bool, str]] = field(default_factory=list)  # (inside details, text)
    headings: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._open: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._open.append(tag)
        if tag in {"p", "h3", "summary"}:
            self._text = []

    def handle_endtag(self, tag):
        assert self._open and self._open[-1] == tag, f"unbalanced </{tag}> in {self._open}"
        self._open.pop()
        text = "".join(self._text)
        if tag == "p":
            self.paragraphs.append(("details" in self._open, text))
        elif tag == "h3":
            self.headings.append(text)
        elif tag == "summary":
            self.summaries.append(text)

    def handle_data(self, data):
        self._text.append(data)


def _page(markdown: str) -> _Page:
    html = MarkdownIt("commonmark", {"html": True}).render(markdown)
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _plain(text: str) -> str:
    return text.replace("**", "")


def _expected_paragraphs(post: Post) -> list[tuple[bool, str]]:
    expected = []
    for turn in post.turns:
        label = f"{turn.speaker}:"
        if not turn.translation:
            expected.append((False, label))
        for index, paragraph in enumerate(turn.translation):
            expected.append(
                (False, f"{label} {_plain(paragraph)}" if index == 0 else _plain(paragraph))
            )
        expected.append((True, f"{label} {_plain(turn.original)}"))
    return expected


@pytest.mark.parametrize("path", golden_posts(), ids=lambda p: p.stem)
def test_golden_post_renders_as_text_with_one_details_per_turn(path: Path):
    text = path.read_text(encoding="utf-8")
    post = parse_post(text)
    body = text.split("\n---\n", 1)[1]
    page = _page(body)
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    assert page.tags.count("details") == len(post.turns)
    assert page.summaries == [f"Original {t.source_language}" for t in post.turns]
    assert page.headings == [s.heading for s in post.sections if s.heading is not None]
    assert page.paragraphs == _expected_paragraphs(post)


def test_hostile_strings_show_as_text():
    text = (Path(__file__).parent / "golden" / "hostile-text.md").read_text("utf-8")
    page = _page(text.split("\n---\n", 1)[1])
    shown = [paragraph for _, paragraph in page.paragraphs] + page.headings
    for needle in (
        "<script>alert('x')</script>",
        "</details>",
        "# 这不是标题",
        "> 这不是引用",
        "- 这不是列表",
        "1. 不是有序列表",
        "``` 不是代码块",
        "C:\\temp\\new",
        "&amp;",
        "<details> 与 & 符号 ###",
        "关于 C# 和 F#",
        "{{ 7 | plus: 7 }} 和 {% if true %}模板{% endif %} 以及 {# 注释 #}",
    ):
        assert any(needle in paragraph for paragraph in shown), needle
