"""Reading model text as JSON, and telling the model which JSON to write.

Models wrap JSON in reasoning blocks and code fences, or cut it short; these helpers strip
what is not the answer and mend what json_repair can mend, so the client re-asks only when
the text holds no usable object.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import json_repair
from pydantic import BaseModel, ValidationError

Mode = Literal["json_schema", "json_object", "text"]

_THINK_RE = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def strip_reasoning(text: str) -> str:
    """``text`` without ``<think>``-style blocks and without one enclosing code fence.

    An unclosed reasoning block at the start (the answer was cut inside it) gives ``""``.
    """
    text = _THINK_RE.sub("", text)
    if re.match(r"\s*<(think|thinking|reasoning)>", text, re.IGNORECASE):
        return ""
    fenced = _FENCE_RE.match(text)
    return (fenced.group(1) if fenced else text).strip()


def parse_json_text(text: str, *, repair: bool) -> Any:
    """The JSON value in ``text``; with ``repair``, mend it with json_repair if needed.

    Raises ``ValueError`` when there is no JSON object or array to be had.
    """
    cleaned = strip_reasoning(text)
    try:
        return json.loads(cleaned)
    except ValueError:
        if not repair:
            raise
    start = min((i for i in (cleaned.find("{"), cleaned.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON object in the answer")
    value = json_repair.loads(cleaned[start:])
    if value in ("", None):
        raise ValueError("no JSON object in the answer")
    return value


def schema_prompt(schema: type[BaseModel]) -> str:
    """The instruction that spells ``schema`` out as JSON schema, for prompts."""
    return (
        "Reply with one JSON object only, no prose and no code fences, matching this JSON "
        f"schema:\n{json.dumps(schema.model_json_schema(), ensure_ascii=False)}"
    )


def with_schema(
    messages: list[dict[str, str]], schema: type[BaseModel], mode: Mode
) -> list[dict[str, str]]:
    """A copy of ``messages`` whose system message says which JSON to write.

    JSON schema mode carries the schema in ``response_format``; lower rungs need it in
    the prompt (JSON mode also insists that the prompt says "JSON").
    """
    note = "Reply with one JSON object only." if mode == "json_schema" else schema_prompt(schema)
    messages = list(messages)
    if messages and messages[0]["role"] == "system":
        messages[0] = {**messages[0], "content": messages[0]["content"] + "\n\n" + note}
    else:
        messages.insert(0, {"role": "system", "content": note})
    return messages


def short_problem(e: Exception) -> str:
    """One line on why an answer did not validate: the first error's place, and a count."""
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        return f"{where}: {first['msg']} ({e.error_count()} problem(s))"
    return str(e)[:200]
