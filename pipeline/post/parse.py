"""A post file -> the Post model, and the checker of every departure from docs/post-format.md.

One pass does both: ``analyze`` walks the file, builds what it can and collects problems
with their line numbers; ``parse_post`` raises on the first problem, ``check_post`` returns
them all. Pure functions over text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from pipeline.errors import PostFormatError
from pipeline.models import Post, PostTurn, Section
from pipeline.post.front import BOOL_KEYS, FRONT_KEYS, LIST_KEYS, read_front
from pipeline.post.problems import Problem, Problems
from pipeline.post.text import unescape_heading, unescape_inline, unescape_paragraph

__all__ = [
    "BOOL_KEYS",
    "FRONT_KEYS",
    "LIST_KEYS",
    "YAML_HINT",
    "Problem",
    "analyze",
    "check_post",
    "parse_post",
]
HEADING_RE = re.compile(r"^(#{1,6})(?:[ \t]+(.*))?$")
LABEL_RE = re.compile(r"^\*\*(?P<speaker>[^*]+)\*\*:(?P<rest>.*)$")
SUMMARY_RE = re.compile(r"^<summary>Original (?P<language>.+)</summary>$")
YAML_HINT = "fix the front matter's YAML there (an unclosed quote or bracket, say)"
CRLF_NOTE = (
    "line ends are CRLF (Windows); posts use LF, and podpost writes LF when it saves the file"
)
BOM_NOTE = (
    "the file starts with a UTF-8 byte order mark (a Windows editor); posts have none, "
    "and podpost writes none when it saves the file"
)


@dataclass
class _Block:
    line: int  # 1-based line of the block's first line
    lines: list[str]

    @property
    def text(self) -> str:
        return self.lines[0]


def analyze(text: str) -> tuple[Post | None, list[Problem]]:
    """Parse ``text`` (a whole post file) as far as possible, collecting every problem.

    A UTF-8 byte order mark and CRLF line ends (a file saved by a Windows editor) are read
    as the same post without them, and noted as style problems (the BOM on line 1, CRLF
    once, on the first such line).

    Returns ``(post, problems)``: ``problems`` sorted by line; ``post`` is None when any of
    them is an error, and the parsed post when there are none or only style problems
    (front matter in another valid YAML style). Never raises for bad input.
    """
    result = Problems()
    if text.startswith("\ufeff"):
        result.add(1, BOM_NOTE, style=True)
        text = text[1:]
    if "\r\n" in text:  # an editor on Windows saved it: the post itself is unchanged
        first = text.count("\n", 0, text.index("\r\n")) + 1
        result.add(first, CRLF_NOTE, style=True)
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if text.endswith("\n"):
        result.add(len(lines) - 1, "file ends with a newline; a post ends right after </details>")
        lines = text.rstrip("\n").split("\n")
    if not lines or lines[0] != "---":
        result.add(1, "the file must start with a '---' line opening the front matter")
    close = lines.index("---", 1) if "---" in lines[1:] else len(lines)
    for number, line in enumerate(lines, 1):
        if line != line.rstrip():
            # YAML ignores it in the front matter: there it changes no value.
            result.add(number, "trailing whitespace", style=1 < number <= close)
    if lines[0] != "---":
        return None, result.sorted()
    if close == len(lines):
        result.add(1, "the front matter is never closed by a '---' line")
        return None, result.sorted()
    front = read_front(lines[1:close], result)
    sections = _body(lines[close + 1 :], close + 2, result)
    if result.errors or front is None:
        return None, result.sorted()
    try:
        return Post(front=front, sections=sections), result.sorted()
    except ValidationError as e:
        result.add(close + 2, f"invalid post: {e.errors()[0]['msg']}")
        return None, result.sorted()


def parse_post(text: str, *, name: str = "post") -> Post:
    """Parse a post file's text into the Post model, reading other YAML styles leniently.

    ``name`` names the file in the message. Raises ``PostFormatError`` ("NAME:LINE: problem
    (and N more problems)", with the line) on the first error; style problems alone do not
    raise (``check_post`` lists them).
    """
    post, problems = analyze(text)
    if post is None:
        errors = [p for p in problems if not p.style]
        unreadable = next((p for p in errors if p.unreadable), None)
        if unreadable is not None:  # bad input: the rest of the file is not worth listing
            raise PostFormatError(
                f"{name}:{unreadable.line}: {unreadable.message}",
                line=unreadable.line,
                hint=YAML_HINT,
            )
        first = errors[0]
        extra = len(errors) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        raise PostFormatError(
            f"{name}:{first.line}: {first.message}{more}",
            line=first.line,
            hint="run `podpost post check` to see every problem",
        )
    return post


def check_post(text: str) -> list[Problem]:
    """Every departure from docs/post-format.md in ``text``, errors and style alike, sorted by line.

    An empty list means the file is exactly what podpost would write for its post.
    """
    return analyze(text)[1]


# --- body -------------------------------------------------------------------------------


def _blocks(lines: list[str], first_line: int, result: Problems) -> list[_Block]:
    if lines and lines[0] == "":
        result.add(first_line, "blank line after the front matter; the body starts right after ---")
    blocks: list[_Block] = []
    current: _Block | None = None
    blank_run = 0
    for offset, line in enumerate(lines):
        number = first_line + offset
        if line.strip() == "":
            if blank_run == 1 and blocks:
                result.add(number, "more than one blank line between blocks")
            blank_run += 1
            current = None
            continue
        blank_run = 0
        line = line.rstrip()  # trailing whitespace is reported once, by analyze()
        if current is None:
            current = _Block(number, [line])
            blocks.append(current)
        else:
            current.lines.append(line)
    return blocks


def _is_heading(block: _Block) -> bool:
    return bool(HEADING_RE.match(block.text))


def _body(lines: list[str], first_line: int, result: Problems) -> list[Section]:
    blocks = _blocks(lines, first_line, result)
    if not blocks:
        result.add(first_line, "the post has no body; it needs at least one turn")
        return []
    sections: list[Section] = []
    heading: str | None = None
    heading_line = 0
    turns: list[PostTurn] = []
    i = 0

    def close_section() -> None:
        if turns:
            sections.append(Section.model_construct(heading=heading, turns=list(turns)))
        elif heading is not None:
            result.add(heading_line, "heading has no turn after it")

    while i < len(blocks):
        block = blocks[i]
        heading_match = HEADING_RE.match(block.text)
        if heading_match:
            _single_line(block, result)
            close_section()
            level = len(heading_match.group(1))
            if level != 3:
                result.add(block.line, f"heading of level {level}; section headings are ### (3)")
            heading = unescape_heading((heading_match.group(2) or "").strip())
            if not heading:
                result.add(block.line, "empty heading")
            heading_line, turns = block.line, []
            i += 1
            continue
        if LABEL_RE.match(block.text):
            turn, i = _turn(blocks, i, result)
            if turn is not None:
                turns.append(turn)
            continue
        result.add(block.line, "text outside a turn; every paragraph belongs to a speaker's turn")
        i += 1
    close_section()
    return sections


def _single_line(block: _Block, result: Problems) -> None:
    if len(block.lines) > 1:
        result.add(block.line + 1, "a paragraph spans several lines; each paragraph is one line")


def _turn(blocks: list[_Block], start: int, result: Problems) -> tuple[PostTurn | None, int]:
    label = blocks[start]
    _single_line(label, result)
    match = LABEL_RE.match(label.text)
    assert match is not None
    speaker = unescape_inline(match.group("speaker"))
    rest = match.group("rest")
    translation: list[str] = []
    if rest:
        if not rest.startswith(" ") or not rest[1:].strip():
            result.add(label.line, "the speaker label must be followed by ': ' and text")
        translation.append(unescape_paragraph(rest[1:]))
    i = start + 1
    while i < len(blocks) and blocks[i].text != "<details>" and not _is_heading(blocks[i]):
        if blocks[i].text.startswith("<summary>") or blocks[i].text == "</details>":
            break
        _single_line(blocks[i], result)
        translation.append(unescape_paragraph(blocks[i].text))
        i += 1
    if i >= len(blocks) or blocks[i].text != "<details>":
        result.add(label.line, "turn has no <details> block with its original")
        return None, i
    details = blocks[i]
    language = "English"
    summary = SUMMARY_RE.match(details.lines[1]) if len(details.lines) >= 2 else None
    if len(details.lines) > 2:
        result.add(details.line + 2, "text right after <summary>; leave one blank line first")
    if summary is None:
        result.add(
            details.line,
            "<details> must be followed on the next line by <summary>Original LANGUAGE</summary>",
        )
    else:
        language = unescape_inline(summary.group("language"))
    i += 1
    original_block = blocks[i] if i < len(blocks) else None
    original_match = LABEL_RE.match(original_block.text) if original_block else None
    if original_block is None or original_match is None:
        line = original_block.line if original_block else details.line
        result.add(line, "details block has no original ('**Speaker**: text')")
        if original_block is not None and original_block.text == "</details>":
            return None, i + 1
        return None, i
    _single_line(original_block, result)
    original_speaker = unescape_inline(original_match.group("speaker"))
    if original_speaker != speaker:
        stray = any(
            (m := LABEL_RE.match(p.text))
            and unescape_inline(m.group("speaker")) == original_speaker
            for p in blocks[start + 1 : i - 1]
        )
        if stray:
            result.add(label.line, "turn has no <details> block with its original")
        else:
            result.add(
                original_block.line,
                f"speaker label in the original ({original_speaker}) "
                f"differs from the translation's ({speaker})",
            )
    original_rest = original_match.group("rest")
    if not original_rest.startswith(" ") or not original_rest[1:].strip():
        result.add(original_block.line, "the original must read '**Speaker**: text'")
    original = unescape_paragraph(original_rest[1:])
    i += 1
    if i >= len(blocks) or blocks[i].text != "</details>":
        line = blocks[i].line if i < len(blocks) else original_block.line
        result.add(line, "details block is not closed by </details> after the original")
        return None, i
    if len(blocks[i].lines) > 1:
        result.add(blocks[i].line + 1, "text right after </details>; leave one blank line first")
    i += 1
    try:
        turn = PostTurn(
            speaker=speaker, translation=translation, original=original, source_language=language
        )
    except ValidationError as e:
        result.add(label.line, f"invalid turn: {e.errors()[0]['msg']}")
        return None, i
    return turn, i
