"""Reading post files and post JSON from disk or stdin, with errors that say what to do."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import ValidationError

from pipeline.errors import InputFileError
from pipeline.models import Post
from pipeline.post.parse import parse_post


def read_text(source: str | Path) -> str:
    """Read UTF-8 text from a path, or from stdin when ``source`` is ``-``.

    Raises ``InputFileError`` for a missing or unreadable file or bytes that are not UTF-8.
    """
    if str(source) == "-":
        raw = sys.stdin.buffer.read()
        name = "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputFileError(f"{path}: no such file", hint="check the path")
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise InputFileError(
                f"{path}: cannot read: {e.strerror}", hint="check permissions"
            ) from e
        name = str(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(
            f"{name}: not UTF-8 (byte {e.start})", hint="convert the file to UTF-8"
        ) from e


def load_post(source: str | Path) -> Post:
    """Read and parse a post file (``-`` for stdin), other YAML styles leniently.

    Raises ``InputFileError`` (missing, unreadable, not UTF-8) or ``PostFormatError``
    (``FILE:LINE: problem``) for a post that does not parse.
    """
    return parse_post(read_text(source), name=str(source))


def post_from_json(text: str, *, name: str = "input") -> Post:
    """Build a Post from the JSON `podpost post parse` writes; ``name`` names it in errors.

    Raises ``InputFileError`` for text that is not JSON or not a post (first field named).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(
            f"{name}:{e.lineno}: invalid JSON: {e.msg}",
            hint="give the output of `podpost post parse` (schema: `podpost post schema`)",
        ) from e
    try:
        return Post.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InputFileError(
            f"{name}: not a post: {where}: {first['msg']}",
            hint="see `podpost post schema` for the expected JSON",
        ) from e
