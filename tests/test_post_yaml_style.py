"""Front matter YAML style (docs/post-format.md): strict writing, lenient reading, style by line."""

from __future__ import annotations

import warnings
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import MantissaNoDotYAML1_1Warning

from pipeline.models import FrontMatter, Post
from pipeline.post.parse import Problem, check_post, parse_post
from pipeline.post.render import render_post
from pipeline.post.yaml_style import HANDLER, plain_reads_as_string
from tests.fixtures.review import clean_post
from tests.post_helpers import podpost

# (value, as written in a block list): plain only where YAML 1.1 and 1.2 both read a string.
WRITTEN = [
    ("n", "'n'"),  # a bool in the YAML 1.1 spec, though not in PyYAML
    ("Off", "'Off'"),
    ("NULL", "'NULL'"),
    ("~", "'~'"),
    ("2e5", "'2e5'"),  # a float in YAML 1.2 only
    ("0o7", "'0o7'"),  # an int in YAML 1.2 only
    ("0x1F", "'0x1F'"),
    ("1_000", "'1_000'"),
    (".NaN", "'.NaN'"),
    ("-.inf", "'-.inf'"),
    ("12:30:05", "'12:30:05'"),  # sexagesimal in YAML 1.1
    ("2025-12-31", "'2025-12-31'"),
    ("+1", "'+1'"),
    ("5.0", "'5.0'"),
    ("", "''"),
    ("-dash", "'-dash'"),  # indicators first: quoted even where a parser would take it plain
    ("?why", "'?why'"),
    (":colon", "':colon'"),
    ("@handle", "'@handle'"),
    ("`tick`", "'`tick`'"),
    ("#hash", "'#hash'"),
    ("%pct", "'%pct'"),
    ("! bang", "'! bang'"),
    ("a #b", "'a #b'"),
    ("a: b", "'a: b'"),
    ("trailing:", "'trailing:'"),
    ("'single'", "'''single'''"),
    ('"double"', "'\"double\"'"),
    ("O'Brien's", "O'Brien's"),  # a quote inside does not force quotes
    ("Dana O'Neil", "Dana O'Neil"),
    ("a#b", "a#b"),
    ("x:y", "x:y"),
    ("Ok", "Ok"),
    ("中文 “引号”", "中文 “引号”"),
]


def _front(**values: object) -> FrontMatter:
    base: dict[str, object] = {
        "author": "Night Shift Radio",
        "date": "2026-04-05",
        "source": "https://example.org/ep/12",
        "speaker": "Night Shift Radio",
        "title": "Working nights",
        "summary": "Dana explains shift work.",
        "category": "health",
        "area": "life",
    }
    base.update(values)
    return FrontMatter.model_validate(base)


def _people_lines(front: FrontMatter) -> list[str]:
    lines = HANDLER.export(front.model_dump()).split("\n")
    start = lines.index("people:") + 1
    return lines[start : start + len(front.people)]


def test_strings_are_quoted_exactly_where_yaml_1_1_or_1_2_would_misread_them() -> None:
    front = _front(people=[value for value, _ in WRITTEN])
    assert _people_lines(front) == [f"  - {written}" for _, written in WRITTEN]


def test_a_quote_alone_leaves_a_value_plain_and_a_tab_becomes_a_space() -> None:
    lines = HANDLER.export(_front(guest="Dana O'Neil", summary="one\ttwo").model_dump())
    assert "guest: Dana O'Neil" in lines.split("\n")
    assert "summary: one two" in lines.split("\n")
    assert _front(summary="a\x07b\ufeffc").summary == "a b c"


def test_plain_reads_as_string_uses_both_yaml_versions() -> None:
    assert [plain_reads_as_string(v) for v in ("1e3", "yes", "y", "12:30", "", "Ok")] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]


def _ruamel(version: tuple[int, int]) -> YAML:
    reader = YAML(typ="safe", pure=True)
    reader.version = version
    return reader


# Pieces of YAML's number, bool, null, date and indicator syntax, glued into strings.
_PIECES = st.one_of(
    st.sampled_from(["y", "n", "on", "No", "null", "~", "true", "e", ".inf", "0o", "0x", "0b"]),
    st.sampled_from(list("0123456789 xob:.-+_'\"#&*!|>%@`?,[]{}\t")),
    st.characters(categories=["L", "N", "P", "S", "Zs"]),
)
_VALUE = st.lists(_PIECES, max_size=8).map(lambda p: "".join(p).replace("\t", " ").strip())
_VALUES = st.lists(_VALUE.filter(bool), max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, _VALUE)
def test_every_value_reads_back_as_the_same_string_in_yaml_1_1_and_1_2(
    people: list[str], title: str
) -> None:
    front = _front(people=people, title=title or "untitled")
    text = HANDLER.export(front.model_dump())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MantissaNoDotYAML1_1Warning)
        readings = [yaml.safe_load(text), _ruamel((1, 1)).load(text), _ruamel((1, 2)).load(text)]
    for data in readings:
        assert (data["people"], data["title"]) == (front.people, front.title)
    styles = [node.style for node in _scalars(yaml.compose(text))]
    assert '"' not in styles


def _scalars(node: yaml.Node) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        return [node]
    if isinstance(node, yaml.SequenceNode):
        return [s for child in node.value for s in _scalars(child)]
    return [s for pair in node.value for child in pair for s in _scalars(child)]


# --- reading another style ----------------------------------------------------------------

OTHER_STYLE = """\
---
# written by another tool
author: "Night Shift Radio"
date: 2026-04-05
guest: "Dana O'Neil"
layout: post.njk
source: 'https://example.org/ep/12'
speaker: Night Shift Radio
tags: [sleep, night-work]
title: "Working nights: what it costs"
summary: Dana explains
  shift work.
insight: ""
draft: True
series: ''
category: health
area: life
project: []
people:
- Dana O'Neil
- 1e3
companies_orgs:
  - "Acme\\tLabs"
products_models:
  - 0o17
status: evergreen
media_books: ["Why We Sleep"]
---
"""

OTHER_STYLE_PROBLEMS = [
    (2, "comment or blank line in the front matter; the blog's style has none"),
    (3, "'author' is double-quoted; podpost writes: author: Night Shift Radio"),
    (4, "'date' is unquoted; the blog's style is date: 'YYYY-MM-DD'"),
    (5, "'guest' is double-quoted; podpost writes: guest: Dana O'Neil"),
    (
        7,
        "'source' is quoted where the blog's style writes it plain; "
        "podpost writes: source: https://example.org/ep/12",
    ),
    (9, "'tags' is a flow list; the blog's style is a block list, '  - item' per line"),
    (10, "'title' is double-quoted; podpost writes: title: 'Working nights: what it costs'"),
    (11, "'summary' spans several lines; podpost writes: summary: Dana explains shift work."),
    (13, "'insight' is double-quoted; podpost writes: insight: ''"),
    (14, "'draft' is not in the blog's YAML style; podpost writes: draft: true"),
    (20, "'people' items are indented differently; the blog's style is '  - item'"),
    (21, "'people' items are indented differently; the blog's style is '  - item'"),
    (23, "'companies_orgs' item 'Acme\\tLabs' is double-quoted; podpost writes:   - Acme Labs"),
    (
        25,
        "'products_models' item '0o17' is plain, but YAML 1.1 or 1.2 (Eleventy's js-yaml) "
        "reads it as something other than a string; podpost writes:   - '0o17'",
    ),
    (26, "key 'status' is out of order; 'media_books' comes here (docs/post-format.md)"),
    (27, "'media_books' is a flow list; the blog's style is a block list, '  - item' per line"),
]


def _other_style_post() -> tuple[str, Post]:
    """The same post twice: in another tool's YAML style, and as the model podpost reads."""
    body = render_post(clean_post()).split("\n---\n", 1)[1]
    front = _front(
        guest="Dana O'Neil",
        tags=["sleep", "night-work"],
        title="Working nights: what it costs",
        people=["Dana O'Neil", "1e3"],
        companies_orgs=["Acme Labs"],
        products_models=["0o17"],
        media_books=["Why We Sleep"],
    )
    return OTHER_STYLE + body, Post(front=front, sections=clean_post().sections)


def test_another_valid_yaml_style_parses_to_the_same_values() -> None:
    text, expected = _other_style_post()
    post = parse_post(text)
    assert post == expected
    assert parse_post(render_post(post)) == expected
    assert check_post(render_post(post)) == []


def test_check_reports_each_style_departure_on_its_line() -> None:
    text, _ = _other_style_post()
    assert check_post(text) == [
        Problem(line, message, True) for line, message in OTHER_STYLE_PROBLEMS
    ]


def test_trailing_whitespace_in_the_front_matter_is_style() -> None:
    text = render_post(clean_post()).replace("layout: post.njk\n", "layout: post.njk  \n", 1)
    assert parse_post(text) == clean_post()
    assert check_post(text) == [Problem(5, "trailing whitespace", True)]


def test_the_cli_prints_file_line_problem_for_style_and_parses_the_post(tmp_path: Path) -> None:
    text, expected = _other_style_post()
    path = tmp_path / "other.md"
    path.write_text(text, "utf-8")
    checked = podpost("post", "check", str(path))
    assert checked.returncode == 1
    assert checked.stdout.decode("utf-8") == "".join(
        f"{path}:{line}: {message}\n" for line, message in OTHER_STYLE_PROBLEMS
    )
    parsed = podpost("post", "parse", str(path))
    assert parsed.returncode == 0, parsed.stderr
    assert Post.model_validate_json(parsed.stdout) == expected


def test_values_that_change_meaning_are_still_errors() -> None:
    text = render_post(clean_post())
    assert check_post(text.replace("title: ", "title: 3.0 #", 1))[0] == Problem(
        11, "'title' must be a string (quote it)"
    )
    twice = text.replace("layout: post.njk\n", "layout: post.njk\nlayout: page.njk\n", 1)
    assert Problem(6, "key 'layout' appears twice; keep one") in check_post(twice)
