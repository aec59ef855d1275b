"""The fake's default answers: deterministic, well-formed output for every podpost task.

Each answer is derived from the request alone (its wire header and lines, see
:mod:`pipeline.editorial.wire`), so an unscripted run is reproducible and passes every
validation check the editorial and naming steps make:

- ``analysis`` / ``analysis_reduce``: a glossary of capitalised terms that recur, a section
  every ten turns, front matter from the episode and the configured lists;
- ``translate``: each line "translated" as ``【译】<original>`` (glossary terms replaced by
  their translations);
- ``speaker_names``: self-introductions that match a candidate, else hosts then guests;
- any other task: :func:`from_schema` builds an instance of the request's JSON schema.

:class:`FakeRequest`, what a handler reads, lives here beside the answers it is given to
(``request.default()``); :mod:`.core`'s state imports both, nothing here imports it back.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.editorial import wire

Answer = Any  # a JSON-able object

_CAPS_RE = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z0-9]+(?: [A-Z][a-zA-Z0-9]+)*)")
_MARK = {"zh": "【译】", "ja": "【訳】", "ko": "【번역】"}


def _mark(target: str) -> str:
    return _MARK.get(target.split("-")[0].lower(), f"[{target}] ")


def _pseudo_translation(term: str) -> str:
    """Up to four CJK characters, the same for the same term, never containing it."""
    return "".join(chr(0x4E00 + (ord(c) * 131 + i * 17) % 6000) for i, c in enumerate(term[:4]))


@dataclass
class FakeRequest:
    """One chat completion request as the fake sees it: ``task`` from the task header,
    ``body`` the JSON request, ``headers`` as sent. Handlers read it to answer."""

    task: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages, a copy of ``body["messages"]``."""
        return list(self.body.get("messages", []))

    @property
    def user_text(self) -> str:
        """The first user message's content; ``""`` when there is none."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[0].get("content", "")) if users else ""

    @property
    def header(self) -> dict[str, Any]:
        """The JSON header of a wire-format user message; ``{}`` when it is not one."""
        try:
            return wire.parse_user_message(self.user_text)[0]
        except ValueError:
            return {}

    @property
    def lines(self) -> list[wire.Line]:
        """The ``[id] Speaker: text`` lines of a wire-format user message; ``[]`` if none."""
        try:
            return wire.parse_user_message(self.user_text)[1]
        except ValueError:
            return []

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema of a ``json_schema`` response format, else None."""
        fmt = self.body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return fmt.get("json_schema", {}).get("schema")
        return None

    def default(self) -> Answer:
        """The unscripted answer: the task's default, else an instance of the schema."""
        handler = DEFAULTS.get(self.task)
        if handler is not None:
            return handler(self)
        return from_schema(self.schema, self.schema or {}) if self.schema else {}


def _analysis(request: FakeRequest) -> Answer:
    header, lines = request.header, request.lines
    speakers = list(dict.fromkeys(line.speaker for line in lines))
    seen: Counter[str] = Counter()
    for line in lines:
        seen.update(set(_CAPS_RE.findall(line.text)))
    common = {"I", "The", "And", "But", "So", "Yeah", "It", "We", "You", "That", "This"}
    terms = sorted(
        (t for t, n in seen.items() if n >= 2 and t not in common), key=lambda t: (-seen[t], t)
    )[:8]
    glossary = [
        {
            "term": t,
            "translation": t if t in speakers else _pseudo_translation(t),
            "kind": "person" if t in speakers else "concept",
        }
        for t in terms
    ]
    sections = [
        {
            "start": int(float(line.id)),
            "heading": f"第{n + 1}部分：{' '.join(line.text.split()[:4])}",
        }
        for n, line in enumerate(lines[::10])
    ]
    episode = header.get("episode", {})
    categories = header.get("categories") or ["ai-ml"]
    areas = header.get("areas") or ["tech-engineering"]
    mark = _mark(header.get("target_language", "zh-CN"))
    return {
        "title": f"{mark}{episode.get('title') or 'Episode'}",
        "summary": f"本期节目共有 {len(lines)} 段对话，{len(speakers)} 位发言人。",
        "tags": [re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-") for t in terms[:5]]
        or ["podcast"],
        "guest": speakers[1] if len(speakers) > 1 else "",
        "people": speakers,
        "companies_orgs": [],
        "products_models": [],
        "media_books": [],
        "category": categories[0],
        "area": areas[0],
        "glossary": glossary,
        "sections": sections,
    }


def _analysis_reduce(request: FakeRequest) -> Answer:
    parts: list[dict[str, Any]] = request.header.get("parts", [])
    merged: dict[str, Any] = dict(parts[0]) if parts else {"title": "Episode", "summary": "-"}
    merged["sections"] = [s for part in parts for s in part.get("sections", [])]
    glossary: dict[str, Any] = {}
    for part in parts:
        for entry in part.get("glossary", []):
            glossary.setdefault(entry["term"], entry)  # the first part's translation wins
    merged["glossary"] = list(glossary.values())
    for key in ("people", "companies_orgs", "products_models", "media_books", "tags"):
        merged[key] = list(dict.fromkeys(x for part in parts for x in part.get(key, [])))
    return merged


def _translate(request: FakeRequest) -> Answer:
    header = request.header
    mark = _mark(header.get("target_language", "zh-CN"))
    glossary: dict[str, str] = header.get("glossary", {})
    turns = []
    for line in request.lines:
        text, terms = line.text, []
        for term, translation in glossary.items():
            pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
            found = pattern.search(line.text)
            if found:
                terms.append({"source": found.group(), "target": translation})
                text = pattern.sub(translation.replace("\\", r"\\"), text)
        turns.append(
            {
                "id": line.id,
                "source_start": " ".join(line.text.split()[:3]),
                "translation": mark + text,
                "terms": terms,
            }
        )
    return {"turns": turns}


def _speaker_names(request: FakeRequest) -> Answer:
    """Name clusters as a careful model would: a self-introduction that matches a candidate,
    else hosts then guests in order of appearance; never one name twice."""
    header = request.header
    candidates = header.get("candidates", {})
    pool = [*candidates.get("hosts", []), *candidates.get("guests", []),
            *candidates.get("introduced_in_transcript", [])]  # fmt: skip
    taken = set(header.get("already_named", {}).values())
    clusters = {c.get("cluster"): c for c in header.get("clusters", [])}
    answer: dict[str, str] = {}
    for label in header.get("answer_for", []):
        intros = clusters.get(label, {}).get("self_introductions", [])
        for name in pool:
            if name not in taken and any(name.casefold() in i.casefold() for i in intros):
                answer[label] = name
                taken.add(name)
                break
    for label in header.get("answer_for", []):
        if label not in answer:
            free = [name for name in pool if name not in taken]
            answer[label] = free[0] if free else "unknown"
            taken.add(answer[label])
    return {"speakers": [{"cluster": label, "name": name} for label, name in answer.items()]}


DEFAULTS: dict[str, Callable[[FakeRequest], Answer]] = {
    wire.TASK_ANALYSIS: _analysis,
    wire.TASK_ANALYSIS_REDUCE: _analysis_reduce,
    wire.TASK_TRANSLATE: _translate,
    "speaker_names": _speaker_names,  # pipeline.turns.naming.TASK; not imported, to keep this light
}


def from_schema(node: dict[str, Any], root: dict[str, Any], name: str = "value") -> Answer:
    """A value that validates against JSON schema ``node`` (``$ref``s resolved in ``root``):
    defaults where given, else empty lists, zeros, ``False``, the first enum value, or the
    string ``"fake <name>"``."""
    if "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return from_schema(target, root, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if o.get("type") != "null"] or node[key]
            return from_schema(options[0], root, name)
    if "default" in node:
        return node["default"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {k: from_schema(v, root, k) for k, v in node.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if "enum" in node:
        return node["enum"][0]
    return f"fake {name}"
