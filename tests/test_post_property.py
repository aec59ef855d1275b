"""Property: for any post, parse(render(p)) == p and rendering that again is identical."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.models import FrontMatter, Post, PostTurn, Section
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post

# Characters that stress Markdown, HTML and YAML, plus CJK and other scripts.
_TRICKY = "#>-+*_~=[]()!|`\\&<>:'\"@%{}{},?.1234567890 \t"
_ALPHABET = st.one_of(
    st.sampled_from(_TRICKY),
    st.sampled_from(string.ascii_letters),
    st.sampled_from("中文标题术语（）“”——、。，"),
    st.characters(categories=["L", "N", "P", "S", "Zs"]),
)


def _line(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(_ALPHABET, min_size=min_size, max_size=max_size).map(str.strip)


_paragraph = _line(1).filter(bool)
_speaker = _line(1, 20).map(lambda s: s.replace("*", "")).map(str.strip).filter(bool)
_tag = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}", fullmatch=True)
_date = st.dates().filter(lambda d: d.year >= 1000).map(lambda d: d.isoformat())
_strings = st.lists(_line(1, 20).filter(bool), max_size=3)

_front = st.builds(
    FrontMatter,
    author=_line(),
    date=_date,
    guest=_line(),
    layout=_line(),
    source=_line(),
    speaker=_line(),
    tags=st.lists(_tag, max_size=3),
    title=_line(),
    summary=_line(),
    insight=_line(),
    draft=st.booleans(),
    series=_line(),
    category=_line(),
    area=_line(),
    project=_strings,
    people=_strings,
    companies_orgs=_strings,
    products_models=_strings,
    media_books=_strings,
    status=_line(),
)
_turn = st.builds(
    PostTurn,
    speaker=_speaker,
    translation=st.lists(_paragraph, max_size=3),
    original=_paragraph,
    source_language=st.sampled_from(["English", "German", "Japanese"]) | _line(1, 12).filter(bool),
)


@st.composite
def posts(draw: st.DrawFn) -> Post:
    count = draw(st.integers(0, 3))
    first_heading = draw(st.none() | _paragraph)
    sections = [
        Section(
            heading=first_heading if i == 0 else draw(_paragraph),
            turns=draw(st.lists(_turn, min_size=1, max_size=3)),
        )
        for i in range(count + 1)
    ]
    return Post(front=draw(_front), sections=sections)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(posts())
def test_parse_inverts_render(post: Post):
    text = render_post(post)
    assert check_post(text) == []
    parsed = parse_post(text)
    assert parsed == post
    assert render_post(parsed) == text


def test_models_refuse_line_breaks_and_control_characters():
    import pytest
    from pydantic import ValidationError

    for bad in ("a\x85b", "a\u2028b", "a\nb", "a\x00b", "a\x1bb", "a\rb"):
        with pytest.raises(ValidationError):
            PostTurn(speaker="A", original=bad)
