"""The checker flags each kind of departure from docs/post-format.md, alone, on the right line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.post.parse import CRLF_NOTE, Problem, check_post, parse_post
from tests.post_helpers import GOLDEN, podpost

BASE = (GOLDEN / "interview-sections.md").read_text(encoding="utf-8")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _replace_line(number: int, new: str | None) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        lines = _lines(text)
        assert lines[number - 1] != new
        if new is None:
            del lines[number - 1]
        else:
            lines[number - 1] = new
        return "\n".join(lines)

    return mutate


def _delete_lines(first: int, last: int) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        lines = _lines(text)
        del lines[first - 1 : last]
        return "\n".join(lines)

    return mutate


def _swap_lines(a: int, b: int) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        lines = _lines(text)
        lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
        return "\n".join(lines)

    return mutate


CASES: dict[str, tuple[Callable[[str], str], list[Problem]]] = {
    "missing key": (
        _replace_line(14, None),  # insight
        [Problem(31, "missing front matter key 'insight'")],
    ),
    "extra key": (
        _replace_line(16, "series: ''\nmood: happy"),
        [Problem(17, "unexpected front matter key 'mood'")],
    ),
    "wrong key order": (
        _swap_lines(4, 5),  # layout before guest
        [
            Problem(
                4,
                "key 'layout' is out of order; 'guest' comes here (docs/post-format.md)",
                style=True,
            )
        ],
    ),
    "wrong type": (
        _replace_line(15, "draft: 'yes'"),
        [Problem(15, "'draft' must be true or false")],
    ),
    "unquoted date": (
        _replace_line(3, "date: 2026-03-04"),
        [Problem(3, "'date' is unquoted; the blog's style is date: 'YYYY-MM-DD'", style=True)],
    ),
    "date not YYYY-MM-DD": (
        _replace_line(3, "date: 04/03/2026"),
        [Problem(3, "'date' '04/03/2026' is not a date in the form YYYY-MM-DD")],
    ),
    "list where a string belongs": (
        _replace_line(12, "title: [a, b]"),
        [Problem(12, "'title' must be a string (quote it)")],
    ),
    "non-canonical YAML style": (
        lambda t: t.replace(
            "tags:\n  - compilers\n  - gpu-kernels\n  - open-source",
            "tags: [compilers, gpu-kernels, open-source]",
        ),
        [
            Problem(
                8,
                "'tags' is a flow list; the blog's style is a block list, '  - item' per line",
                style=True,
            )
        ],
    ),
    "turn without its details block": (
        _delete_lines(46, 52),  # Jonas's first <details> ... </details> and its blank line
        [Problem(44, "turn has no <details> block with its original")],
    ),
    "details block without an original": (
        _delete_lines(49, 50),
        [Problem(49, "details block has no original ('**Speaker**: text')")],
    ),
    "speaker label in the original differs": (
        lambda t: t.replace(
            "**Jonas Weber**: Thanks for having me", "**Jonas**: Thanks for having me"
        ),
        [
            Problem(
                49,
                "speaker label in the original (Jonas) differs from the translation's "
                "(Jonas Weber)",
            )
        ],
    ),
    "heading with no turn after it": (
        _replace_line(33, "### 开场：从游戏引擎到编译器\n\n### 第二个标题"),
        [Problem(33, "heading has no turn after it")],
    ),
    "heading of another level": (
        _replace_line(33, "## 开场：从游戏引擎到编译器"),
        [Problem(33, "heading of level 2; section headings are ### (3)")],
    ),
    "blank line after the front matter": (
        _replace_line(32, "---\n"),
        [Problem(33, "blank line after the front matter; the body starts right after ---")],
    ),
    "trailing newline": (
        lambda t: t + "\n",
        [
            Problem(
                len(_lines(BASE)), "file ends with a newline; a post ends right after </details>"
            )
        ],
    ),
    "trailing whitespace": (
        _replace_line(44, "**Jonas Weber**: 谢谢邀请，很高兴来到这里。 "),
        [Problem(44, "trailing whitespace")],
    ),
    # A file saved on Windows: one note, and every line still checked as usual.
    "CRLF line ends": (
        lambda t: t.replace("\n", "\r\n"),
        [Problem(1, CRLF_NOTE, style=True)],
    ),
    "CRLF line ends and a heading of another level": (
        lambda t: _replace_line(33, "## 开场：从游戏引擎到编译器")(t).replace("\n", "\r\n"),
        [
            Problem(1, CRLF_NOTE, style=True),
            Problem(33, "heading of level 2; section headings are ### (3)"),
        ],
    ),
    "CRLF line ends after the first line": (
        lambda t: t.replace("\n", "\r\n").replace("\r\n", "\n", 5),
        [Problem(6, CRLF_NOTE, style=True)],
    ),
    # YAML that does not parse: the line to fix, 1-based and counting the opening '---'
    # (PyYAML notices an unclosed bracket or quote only on a later line).
    "unclosed bracket": (
        _replace_line(12, "title: [编译器, GPU"),
        [
            Problem(
                12,
                "front matter is not valid YAML: in the [ list that starts here: expected ',' "
                "or ']', but got ':'",
                unreadable=True,
            )
        ],
    ),
    "unclosed brace": (
        _replace_line(5, "layout: {a: b"),
        [
            Problem(
                5,
                "front matter is not valid YAML: in the { mapping that starts here: expected "
                "',' or '}', but got ':'",
                unreadable=True,
            )
        ],
    ),
    "unclosed quote": (
        _replace_line(13, "summary: 'Ana Ruiz 与编译器"),
        [
            Problem(
                13,
                "front matter is not valid YAML: in the quoted string that starts here: found "
                "unexpected end of stream",
                unreadable=True,
            )
        ],
    ),
    "indented key": (
        _replace_line(14, "  insight: ''"),
        [
            Problem(
                14,
                "front matter is not valid YAML: mapping values are not allowed here",
                unreadable=True,
            )
        ],
    ),
    "a date that does not exist": (
        _replace_line(3, "date: 2026-02-30"),
        [Problem(3, "front matter has a value that is not valid: day is out of range for month")],
    ),
    "two blank lines": (
        _replace_line(43, "\n"),
        [Problem(44, "more than one blank line between blocks")],
    ),
    "text right after </details>": (
        _replace_line(42, "</details>\n<script>x</script>"),
        [Problem(43, "text right after </details>; leave one blank line first")],
    ),
    "paragraph outside a turn": (
        _replace_line(33, "Just some text"),
        [Problem(33, "text outside a turn; every paragraph belongs to a speaker's turn")],
    ),
}


def test_base_is_valid():
    assert check_post(BASE) == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_checker_flags_exactly_this_problem(case: str):
    mutate, expected = CASES[case]
    assert check_post(mutate(BASE)) == expected


def test_cli_prints_file_line_problem(tmp_path: Path):
    mutate, _ = CASES["heading of another level"]
    bad = tmp_path / "bad.md"
    bad.write_text(mutate(BASE), encoding="utf-8")
    result = podpost("post", "check", str(bad))
    assert result.returncode == 1
    assert result.stdout.decode() == f"{bad}:33: heading of level 2; section headings are ### (3)\n"


def test_a_crlf_post_parses_to_the_same_post():
    assert parse_post(BASE.replace("\n", "\r\n")) == parse_post(BASE)


def test_cli_notes_crlf_once(tmp_path: Path):
    crlf = tmp_path / "crlf.md"
    crlf.write_bytes(BASE.replace("\n", "\r\n").encode("utf-8"))
    result = podpost("post", "check", str(crlf))
    assert (result.returncode, result.stderr) == (1, b"")
    assert result.stdout.decode() == f"{crlf}:1: {CRLF_NOTE}\n"
