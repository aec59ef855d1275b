"""Front matter: read any valid YAML leniently, and report each departure from the blog's style.

Reading is lenient, writing is strict (docs/post-format.md). Front matter in another YAML style
(double quotes, flow lists, other indentation, comments, keys in another order, an unquoted
date) parses to the same values; each such departure is a *style* problem on its own line,
which ``podpost post check`` reports but which does not stop the post from parsing. A
missing or unknown key, a value of the wrong type, or YAML that does not parse is an error.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.models import DATE_RE, TAG_RE, FrontMatter
from pipeline.post import yaml_style
from pipeline.post.problems import Problems

FRONT_KEYS = list(FrontMatter.model_fields)
LIST_KEYS = {
    k
    for k, f in FrontMatter.model_fields.items()
    if f.annotation is not None and getattr(f.annotation, "__origin__", None) is list
}
BOOL_KEYS = {"draft"}
FIRST_LINE = 2  # front matter line 0 is file line 2, after the opening '---'
ITEM_COLUMN = 4  # '  - item': the item's text starts in column 4 (0-based)

_Nodes = dict[str, tuple[yaml.Node, yaml.Node]]


def canonical_lines(front: FrontMatter) -> list[str]:
    """The front matter lines podpost writes for ``front`` (without the ``---`` lines)."""
    return yaml_style.HANDLER.export(front.model_dump()).split("\n")


def read_front(front_lines: list[str], problems: Problems) -> FrontMatter | None:
    """Parse the lines between the ``---`` lines; None if any error (not style) was found.

    ``front_lines`` are the file's lines 2..n (without line ends). Every problem, errors
    and style departures alike, is added to ``problems`` with its 1-based file line.
    """
    close_line = len(front_lines) + FIRST_LINE
    loader = yaml.SafeLoader("\n".join(front_lines))
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as e:
        line, problem = _yaml_error(e)
        problems.add(line, f"front matter is not valid YAML: {problem}", unreadable=True)
        return None
    except RecursionError:  # PyYAML recurses once per level of nesting: [[[[...
        problems.add(FIRST_LINE, "front matter nests too deep to be a post's", unreadable=True)
        return None
    except ValueError as e:  # a plain timestamp that is no date, such as 2026-02-30
        line = _invalid_timestamp_line(loader, root)
        problems.add(line, f"front matter has a value that is not valid: {e}")
        return None
    finally:
        loader.dispose()
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        problems.add(FIRST_LINE, "front matter must be a mapping of keys to values")
        return None
    nodes: _Nodes = {}
    for key_node, value_node in root.value:
        key = str(key_node.value)
        if key in nodes:
            line = key_node.start_mark.line + FIRST_LINE
            problems.add(line, f"key '{key}' appears twice; keep one")
        nodes.setdefault(key, (key_node, value_node))
    where = {key: key_node.start_mark.line + FIRST_LINE for key, (key_node, _) in nodes.items()}
    data = {str(key): value for key, value in data.items()}
    before = len(problems.errors)
    for key in FRONT_KEYS:
        if key not in data:
            problems.add(close_line, f"missing front matter key '{key}'")
    for key in data:
        if key not in FRONT_KEYS:
            problems.add(where.get(key, FIRST_LINE), f"unexpected front matter key '{key}'")
    present = [k for k in nodes if k in FRONT_KEYS]
    expected = [k for k in FRONT_KEYS if k in nodes]
    for got, want in zip(present, expected, strict=True):
        if got != want:
            message = f"key '{got}' is out of order; '{want}' comes here (docs/post-format.md)"
            problems.add(where[got], message, style=True)
            break
    values: dict[str, Any] = {}
    reported: set[str] = set()
    for key in present:
        values[key], styled = _check_value(key, data[key], where[key], problems)
        if styled:
            reported.add(key)
    if len(problems.errors) > before:
        return None
    try:
        front = FrontMatter.model_validate({k: values[k] for k in FRONT_KEYS})
    except ValidationError as e:
        first = e.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        problems.add(where.get(key, FIRST_LINE), f"'{key}': {first['msg']}")
        return None
    _style(front, front_lines, nodes, reported, problems)
    return front


# Constructs whose error PyYAML finds only after them (on the next line, or at the end of
# the front matter): an unclosed quote or bracket, a key without its ':'. Their start is
# the line to fix. Other contexts ("while parsing a block mapping") mark where the whole
# mapping starts, and their problem mark is the right line.
_OPENED_AT = {
    "while scanning a quoted scalar": "the quoted string that starts here",
    "while scanning a simple key": "the key that starts here",
    "while parsing a flow sequence": "the [ list that starts here",
    "while parsing a flow mapping": "the { mapping that starts here",
}


def _yaml_error(e: yaml.YAMLError) -> tuple[int, str]:
    """The 1-based file line to fix, and one line saying what is wrong."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    opened = getattr(e, "context_mark", None)
    construct = _OPENED_AT.get(getattr(e, "context", None) or "")
    if construct and opened is not None:
        return opened.line + FIRST_LINE, f"in {construct}: {problem}"
    return (mark.line + FIRST_LINE if mark is not None else FIRST_LINE), problem


def _invalid_timestamp_line(loader: yaml.SafeLoader, root: yaml.Node | None) -> int:
    """The file line of the first timestamp PyYAML cannot build (a day out of range)."""
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop(0)
        if isinstance(node, yaml.MappingNode):
            todo += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            todo += node.value
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                loader.construct_yaml_timestamp(node)
            except ValueError:
                return node.start_mark.line + FIRST_LINE
    return FIRST_LINE


def _check_value(key: str, value: Any, line: int, problems: Problems) -> tuple[Any, bool]:
    """Type checks; returns the value to use and whether a style problem was reported."""
    if key in BOOL_KEYS:
        if not isinstance(value, bool):
            problems.add(line, f"'{key}' must be true or false")
        return value, False
    if key in LIST_KEYS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.add(line, f"'{key}' must be a list of strings (or [])")
            return value, False
        for item in value:
            if item != item.strip() or "\n" in item:
                problems.add(line, f"'{key}' item {item!r} has surrounding whitespace or a newline")
        if key == "tags":
            for tag in value:
                if not TAG_RE.match(tag):
                    problems.add(line, f"tag {tag!r} must be lowercase and hyphenated")
        return value, False
    if key == "date" and isinstance(value, dt.datetime):
        problems.add(line, "'date' must be a date 'YYYY-MM-DD', without a time")
        return value, False
    if key == "date" and isinstance(value, dt.date):
        # Unquoted, YAML reads a date; the value is still unambiguous, so read it leniently.
        problems.add(line, "'date' is unquoted; the blog's style is date: 'YYYY-MM-DD'", style=True)
        return value.isoformat(), True
    if not isinstance(value, str):
        problems.add(line, f"'{key}' must be a string (quote it)")
        return value, False
    if value != value.strip() or "\n" in value:
        problems.add(line, f"'{key}' has surrounding whitespace or a newline")
    if key == "date":
        try:
            valid = bool(DATE_RE.match(value)) and bool(dt.date.fromisoformat(value))
        except ValueError:
            valid = False
        if not valid:
            problems.add(line, f"'date' {value!r} is not a date in the form YYYY-MM-DD")
    return value, False


def _blocks_by_key(lines: list[str]) -> dict[str, list[str]]:
    """Canonical lines grouped by key: a key's line and the '  - item' lines after it."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines:
        if not line.startswith(" "):
            current = blocks.setdefault(line.split(":", 1)[0], [])
        current.append(line)
    return blocks


def _style(
    front: FrontMatter, lines: list[str], nodes: _Nodes, skip: set[str], problems: Problems
) -> None:
    """Compare each key's lines with the canonical ones; one style problem per departure."""
    canonical = _blocks_by_key(canonical_lines(front))
    starts = sorted((key_node.start_mark.line, key) for key, (key_node, _) in nodes.items())
    for offset in range(starts[0][0] if starts else 0):
        message = _why_line(lines[offset]) or "text before the first key"
        problems.add(offset + FIRST_LINE, message, style=True)
    scalars: dict[int, yaml.ScalarNode] = {}
    for _, value_node in nodes.values():
        items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for node in items:
            if isinstance(node, yaml.ScalarNode):
                scalars.setdefault(node.start_mark.line, node)
    ends = [line for line, _ in starts[1:]] + [len(lines)]
    for (start, key), end in zip(starts, ends, strict=True):
        got = [line.rstrip() for line in lines[start:end]]
        want = canonical.get(key, [])
        if key in skip or got == want:
            continue
        for offset, (got_line, want_line) in enumerate(itertools.zip_longest(got, want)):
            if got_line == want_line:
                continue
            node = scalars.get(start + offset)
            message = _why(key, nodes[key][1], node, got_line, want_line, front)
            problems.add(start + offset + FIRST_LINE, message, style=True)
            if len(got) != len(want):
                break  # lines no longer pair up; one problem for the key says it


def _why_line(line: str | None) -> str | None:
    if line is not None and (not line.strip() or line.lstrip().startswith("#")):
        return "comment or blank line in the front matter; the blog's style has none"
    return None


def _why(
    key: str,
    value_node: yaml.Node,
    node: yaml.ScalarNode | None,
    got: str | None,
    want: str | None,
    front: FrontMatter,
) -> str:
    """One line saying how ``got`` departs from the canonical ``want``, and what to write."""
    writes = f"podpost writes: {want}" if want is not None else "podpost writes nothing here"
    blank = _why_line(got)
    if blank:
        return blank
    if isinstance(value_node, yaml.SequenceNode) and value_node.flow_style and value_node.value:
        return f"'{key}' is a flow list; the blog's style is a block list, '  - item' per line"
    if node is None and isinstance(value_node, yaml.ScalarNode):
        node = value_node
    if node is None:
        return f"'{key}' is not in the blog's YAML style; {writes}"
    item = node is not value_node
    label = f"'{key}' item {node.value!r}" if item else f"'{key}'"
    written = (want or "").removeprefix("  - ") if item else (want or "").split(": ", 1)[-1]
    quoted = written.startswith("'")
    if item and node.start_mark.column != ITEM_COLUMN:
        return f"'{key}' items are indented differently; the blog's style is '  - item'"
    if node.start_mark.line != node.end_mark.line:
        return f"{label} spans several lines; {writes}"
    if node.style == '"':
        return f"{label} is double-quoted; {writes}"
    if node.style in ("|", ">"):
        return f"{label} is a block scalar; {writes}"
    value = getattr(front, key)
    values = value if isinstance(value, list) else [value]
    if all(isinstance(v, str) for v in values) and node.value not in values:
        return f"{label} holds a tab or a control character, written as a space; {writes}"
    if node.style is None and quoted:
        if not yaml_style.plain_reads_as_string(node.value):
            return (
                f"{label} is plain, but YAML 1.1 or 1.2 (Eleventy's js-yaml) reads it as "
                f"something other than a string; {writes}"
            )
        return f"{label} must be single-quoted; {writes}"
    if node.style == "'" and not quoted:
        return f"{label} is quoted where the blog's style writes it plain; {writes}"
    return f"'{key}' is not in the blog's YAML style; {writes}"
