"""A fake OpenAI-compatible server, for tests and for whole offline runs.

By hand::

    python -m pipeline.testing.fakellm --port 8089 [--delay 0.5] [--api-key KEY]
    # then: OPENAI_BASE_URL=http://127.0.0.1:8089/v1 OPENAI_API_KEY=anything podpost ...
    curl http://127.0.0.1:8089/_requests     # every request served, with its token counts

Unscripted, it answers every podpost request with deterministic, well-formed output
derived from the request. It dispatches on the ``X-Podpost-Task`` header the client sends
(see :mod:`pipeline.llm`):

- ``analysis`` / ``analysis_reduce``: a glossary of capitalised terms that recur, a section
  every ten turns, front matter from the episode and the configured lists;
- ``translate``: each line "translated" as ``【译】<original>`` (glossary terms replaced by
  their translations), so every validation check passes;
- ``speaker_names``: self-introductions that match a candidate, else hosts then guests;
- any other task: an instance built from the request's JSON schema (empty lists, strings
  derived from the field names), or ``{}`` without a schema.

In tests (fixture ``fake_llm`` in ``tests/fixtures/llm.py``) it is scripted per case::

    fake_llm.push(FakeReply.rate_limited(retry_after=2), FakeReply.server_error())
    fake_llm.push(FakeReply.truncated(), task="translate")     # only for that task
    fake_llm.push(FakeReply(transform=lambda answer, request: ...))  # edit the default
    fake_llm.handle("speaker_names", lambda request: {"names": {...}})  # a task's answer
    fake_llm.requests(task="translate")                         # the log, filtered

Queued replies are used first, in order (a reply queued for another task waits); then a
handler registered for the task; then the default. A handler gets a :class:`FakeRequest`
(``.task``, ``.header``, ``.lines``, ``.messages``, ``.default()``) and returns an answer
object, a :class:`FakeReply`, or ``None`` for the default answer. Faults: 429 with
``Retry-After``, 500, slow answers (``delay``), dropped connections, malformed JSON,
``finish_reason: length``, refusals, 401, unknown models, and response formats the
"endpoint" does not support.

``GET /v1/models`` lists ``fake.models`` when it is set (the names it serves). With
``models`` left at ``None`` (any name is served) or ``fake.lists_models = False`` it
answers 404, as endpoints that do not list models do. It answers 401 to a wrong key.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.editorial import wire
from pipeline.llm import TASK_HEADER, estimate_tokens

Answer = Any  # a JSON-able object


@dataclass
class FakeReply:
    status: int = 200
    answer: Answer = None  # the JSON answer; None: the default for the request
    content: str | None = None  # raw assistant text instead of JSON (malformed, prose...)
    finish_reason: str = "stop"
    refusal: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    code: str | None = None
    transform: Callable[[Answer, FakeRequest], Answer] | None = None

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> FakeReply:
        return cls(429, headers={"Retry-After": f"{retry_after:g}"}, error="Rate limit reached")

    @classmethod
    def server_error(cls, status: int = 500) -> FakeReply:
        return cls(status, error="The server had an error while processing your request")

    @classmethod
    def slow(cls, delay: float) -> FakeReply:
        return cls(delay=delay)

    @classmethod
    def malformed(cls) -> FakeReply:
        return cls(content='{"turns": [{"id": "0", "translation": "unterminated')

    @classmethod
    def truncated(cls) -> FakeReply:
        return cls(content='{"turns": [{"id": "0", "source_start": "', finish_reason="length")

    @classmethod
    def refused(cls, text: str = "I'm sorry, I can't help with that.") -> FakeReply:
        return cls(refusal=text)

    @classmethod
    def dropped(cls) -> FakeReply:
        """The connection closes without an answer (logged with status 0)."""
        return cls(0)

    @classmethod
    def unauthorized(cls) -> FakeReply:
        return cls(401, error="Incorrect API key provided", code="invalid_api_key")


@dataclass
class FakeRequest:
    task: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def user_text(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[0].get("content", "")) if users else ""

    @property
    def header(self) -> dict[str, Any]:
        try:
            return wire.parse_user_message(self.user_text)[0]
        except ValueError:
            return {}

    @property
    def lines(self) -> list[wire.Line]:
        try:
            return wire.parse_user_message(self.user_text)[1]
        except ValueError:
            return []

    @property
    def schema(self) -> dict[str, Any] | None:
        fmt = self.body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return fmt.get("json_schema", {}).get("schema")
        return None

    def default(self) -> Answer:
        handler = DEFAULTS.get(self.task)
        if handler is not None:
            return handler(self)
        return _from_schema(self.schema, self.schema or {}) if self.schema else {}


# --- default answers ------------------------------------------------------------------

_CAPS_RE = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-zA-Z0-9]+(?: [A-Z][a-zA-Z0-9]+)*)")
_MARK = {"zh": "【译】", "ja": "【訳】", "ko": "【번역】"}


def _mark(target: str) -> str:
    return _MARK.get(target.split("-")[0].lower(), f"[{target}] ")


def _pseudo_translation(term: str) -> str:
    """Up to four CJK characters, the same for the same term, never containing it."""
    return "".join(chr(0x4E00 + (ord(c) * 131 + i * 17) % 6000) for i, c in enumerate(term[:4]))


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


def _from_schema(node: dict[str, Any], root: dict[str, Any], name: str = "value") -> Answer:
    if "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return _from_schema(target, root, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if o.get("type") != "null"] or node[key]
            return _from_schema(options[0], root, name)
    if "default" in node:
        return node["default"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {k: _from_schema(v, root, k) for k, v in node.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if "enum" in node:
        return node["enum"][0]
    return f"fake {name}"


# --- the state tests script -----------------------------------------------------------


class FakeLLM:
    """Everything the server does, as a plain object: scriptable and readable in tests."""

    def __init__(self, *, delay: float = 0.0, api_key: str | None = None) -> None:
        self.delay = delay  # added to every answer (benchmarks)
        self.api_key = api_key  # when set, other keys get 401
        self.models: set[str] | None = None  # when set, other models get 404
        self.lists_models = True  # False: GET /models answers 404 even with models set
        self.model_listings = 0  # GET /models requests served (preflight checks)
        self.formats = {"json_schema", "json_object", "text"}  # response formats accepted
        self._queue: list[tuple[str | None, FakeReply]] = []
        self._handlers: dict[str, Callable[[FakeRequest], Any]] = {}
        self._log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0  # most chat requests being answered at one time

    # scripting
    def push(self, *replies: FakeReply, task: str | None = None) -> None:
        with self._lock:
            self._queue.extend((task, reply) for reply in replies)

    def handle(self, task: str, handler: Callable[[FakeRequest], Any]) -> None:
        self._handlers[task] = handler

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._handlers.clear()
            self._log.clear()

    def requests(self, task: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._log if task is None or e["task"] == task]

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _next_scripted(self, task: str) -> FakeReply | None:
        with self._lock:
            for index, (wanted, reply) in enumerate(self._queue):
                if wanted is None or wanted == task:
                    del self._queue[index]
                    return reply
        return None

    # serving
    def chat(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict, Any, float]:
        """(status, headers, JSON body, delay) for one chat completion request."""
        lower = {k.lower(): v for k, v in headers.items()}
        task = lower.get(TASK_HEADER.lower(), "")
        request = FakeRequest(task, body, headers)
        prompt_tokens = sum(
            4 + estimate_tokens(str(m.get("content") or "")) for m in request.messages
        )
        entry: dict[str, Any] = {
            "n": 0,
            "task": task,
            "model": body.get("model"),
            "response_format": (body.get("response_format") or {}).get("type", "text"),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 0,
            "status": 200,
            "started": time.time(),
            "messages": request.messages,
        }
        status, extra, payload, delay = self._answer(request, lower, entry)
        entry["status"] = status
        with self._lock:
            entry["n"] = len(self._log) + 1
            self._log.append(entry)
        return status, extra, payload, delay + self.delay

    def _answer(
        self, request: FakeRequest, lower: dict[str, str], entry: dict[str, Any]
    ) -> tuple[int, dict, Any, float]:
        if self.api_key is not None and lower.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _err_body("Incorrect API key provided", "invalid_api_key"), 0.0
        model = request.body.get("model")
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return 404, {}, _err_body(message, "model_not_found"), 0.0
        fmt = entry["response_format"]
        if fmt not in self.formats:
            message = f"response_format type '{fmt}' is not supported by this model"
            return 400, {}, _err_body(message, None, param="response_format"), 0.0
        reply = self._next_scripted(request.task)
        if reply is None and request.task in self._handlers:
            produced = self._handlers[request.task](request)
            reply = produced if isinstance(produced, FakeReply) else FakeReply(answer=produced)
        reply = reply or FakeReply()
        if reply.status == 0:
            return 0, {}, None, reply.delay
        if reply.status != 200:
            return reply.status, reply.headers, _err_body(reply.error, reply.code), reply.delay
        if reply.refusal is not None:
            content = None
        elif reply.content is not None:
            content = reply.content
        else:
            answer = reply.answer if reply.answer is not None else request.default()
            if reply.transform is not None:
                answer = reply.transform(answer, request)
            content = json.dumps(answer, ensure_ascii=False)
        completion_tokens = estimate_tokens(content or reply.refusal or "")
        entry["completion_tokens"] = completion_tokens
        body = {
            "id": f"chatcmpl-fake-{id(entry)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or "fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": reply.refusal},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": entry["prompt_tokens"],
                "completion_tokens": completion_tokens,
                "total_tokens": entry["prompt_tokens"] + completion_tokens,
            },
        }
        return 200, reply.headers, body, reply.delay


def _err_body(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}
    }


# --- HTTP -----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/") == "/_requests":
            self._send(200, fake.requests())
        elif self.path.rstrip("/") in ("/v1/models", "/models"):
            self._models(fake)
        else:
            self._send(404, _err_body(f"no route {self.path}", None))

    def _models(self, fake: FakeLLM) -> None:
        with fake._lock:
            fake.model_listings += 1
        key = self.headers.get("Authorization")
        if fake.api_key is not None and key != f"Bearer {fake.api_key}":
            self._send(401, _err_body("Incorrect API key provided", "invalid_api_key"))
        elif fake.models is None or not fake.lists_models:
            self._send(404, _err_body(f"no route {self.path}", None))
        else:
            data = [
                {"id": n, "object": "model", "owned_by": "podpost"} for n in sorted(fake.models)
            ]
            self._send(200, {"object": "list", "data": data})

    def do_DELETE(self) -> None:
        if self.path.rstrip("/") == "/_requests":
            with self.server.fake._lock:
                self.server.fake._log.clear()
            self._send(200, {"ok": True})
        else:
            self._send(404, _err_body(f"no route {self.path}", None))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, _err_body(f"no route {self.path}", None))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, _err_body("request body is not JSON", None))
            return
        fake = self.server.fake
        with fake._lock:
            fake._in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
        try:
            status, headers, payload, delay = fake.chat(body, dict(self.headers))
            if delay:
                time.sleep(delay)
            if status == 0:  # FakeReply.dropped(): hang up without an answer
                self.close_connection = True
                return
            self._send(status, payload, headers)
        finally:
            with fake._lock:
                fake._in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeLLM) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class FakeServer:
    """The fake on a port, in a background thread: ``base_url`` ends with ``/v1``."""

    def __init__(self, fake: FakeLLM | None = None, host: str = "127.0.0.1", port: int = 0):
        self.fake = fake or FakeLLM()
        self._server = _Server((host, port), self.fake)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.testing.fakellm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    args = parser.parse_args(argv)
    server = FakeServer(FakeLLM(delay=args.delay, api_key=args.api_key), args.host, args.port)
    print(
        f"fake LLM on {server.base_url} (log: http://{args.host}:{server.port}/_requests)",
        flush=True,
    )
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


if __name__ == "__main__":
    main()
