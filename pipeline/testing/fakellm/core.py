"""The fake endpoint's state, as plain objects: scripted replies, requests, the log.

:class:`FakeLLM` does everything the server does except HTTP: ``chat(body, headers)``
answers one chat completion request (the OpenAI wire format, as dicts), so the HTTP
server of :mod:`.server` and the in-process :class:`pipeline.testing.fakeclient.FakeClient`
share one behaviour and one scripting API.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.llm import TASK_HEADER, estimate_tokens
from pipeline.testing.fakellm.answers import Answer, FakeRequest


@dataclass
class FakeReply:
    """One scripted answer: an HTTP status, an answer object or raw text, and faults.

    ``answer`` None means the default answer for the request (then ``transform(answer,
    request)`` may edit it); ``content`` sends raw assistant text instead of JSON;
    ``refusal`` sends a refusal; ``delay`` is seconds before answering; a status other
    than 200 answers with an OpenAI-style error body (``error``, ``code``) and ``headers``;
    status 0 hangs up without an answer.
    """

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
        """429 with ``Retry-After: retry_after`` (seconds)."""
        return cls(429, headers={"Retry-After": f"{retry_after:g}"}, error="Rate limit reached")

    @classmethod
    def server_error(cls, status: int = 500) -> FakeReply:
        """A 5xx error (retryable for the client)."""
        return cls(status, error="The server had an error while processing your request")

    @classmethod
    def slow(cls, delay: float) -> FakeReply:
        """The default answer after ``delay`` seconds (over HTTP only)."""
        return cls(delay=delay)

    @classmethod
    def malformed(cls) -> FakeReply:
        """JSON cut in the middle of a string, with ``finish_reason`` still ``stop``."""
        return cls(content='{"turns": [{"id": "0", "translation": "unterminated')

    @classmethod
    def truncated(cls) -> FakeReply:
        """A cut-off answer with ``finish_reason: length``."""
        return cls(content='{"turns": [{"id": "0", "source_start": "', finish_reason="length")

    @classmethod
    def refused(cls, text: str = "I'm sorry, I can't help with that.") -> FakeReply:
        """A refusal (the message's ``refusal`` field), no content."""
        return cls(refusal=text)

    @classmethod
    def dropped(cls) -> FakeReply:
        """The connection closes without an answer (logged with status 0)."""
        return cls(0)

    @classmethod
    def unauthorized(cls) -> FakeReply:
        """401 ``invalid_api_key``, as OpenAI answers a wrong key."""
        return cls(401, error="Incorrect API key provided", code="invalid_api_key")


class FakeLLM:
    """Everything the server does, as a plain object: scriptable and readable in tests.

    ``delay`` (seconds) is added to every answer over HTTP; with ``api_key`` set, requests
    with another bearer key get 401; ``models`` (when set) are the only models served,
    others get 404 ``model_not_found``, and ``GET /models`` lists them (``lists_models =
    False``: it does not); ``formats`` are the response formats accepted, others get 400.
    Thread-safe.
    """

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
        """Queue ``replies``, used in order before anything else; with ``task``, only
        requests for that task take them (others pass them by)."""
        with self._lock:
            self._queue.extend((task, reply) for reply in replies)

    def handle(self, task: str, handler: Callable[[FakeRequest], Any]) -> None:
        """Answer ``task`` with ``handler(request)``: an answer object, a
        :class:`FakeReply`, or None for the default. Replaces an earlier handler."""
        self._handlers[task] = handler

    def clear_log(self) -> None:
        """Forget the request log (``DELETE /_requests``); the script stays."""
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget queued replies, handlers and the log."""
        with self._lock:
            self._queue.clear()
            self._handlers.clear()
            self._log.clear()

    def requests(self, task: str | None = None) -> list[dict[str, Any]]:
        """The log, oldest first, optionally of one task: one dict per chat request with
        ``n``, ``task``, ``model``, ``response_format``, ``prompt_tokens``,
        ``completion_tokens``, ``status`` (0: dropped), ``started`` (epoch s), ``messages``."""
        with self._lock:
            return [dict(e) for e in self._log if task is None or e["task"] == task]

    @property
    def pending(self) -> int:
        """How many pushed replies are still queued."""
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
    def chat(
        self, body: dict[str, Any], headers: dict[str, str], reply: FakeReply | None = None
    ) -> tuple[int, dict, Any, float]:
        """``(status, headers, JSON body, delay)`` for one chat completion request.

        ``body`` is the request JSON, ``headers`` its HTTP headers (any case); the answer
        body is an OpenAI chat completion, or an error body when ``status != 200``, or None
        when ``status == 0`` (hang up). ``delay`` is seconds to wait before answering.
        ``reply`` answers instead of the queue and the handlers (the in-process client's
        own queue)."""
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
        status, extra, payload, delay = self._answer(request, lower, entry, reply)
        entry["status"] = status
        with self._lock:
            entry["n"] = len(self._log) + 1
            self._log.append(entry)
        return status, extra, payload, delay + self.delay

    def _answer(
        self,
        request: FakeRequest,
        lower: dict[str, str],
        entry: dict[str, Any],
        reply: FakeReply | None,
    ) -> tuple[int, dict, Any, float]:
        if self.api_key is not None and lower.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, err_body("Incorrect API key provided", "invalid_api_key"), 0.0
        model = request.body.get("model")
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return 404, {}, err_body(message, "model_not_found"), 0.0
        fmt = entry["response_format"]
        if fmt not in self.formats:
            message = f"response_format type '{fmt}' is not supported by this model"
            return 400, {}, err_body(message, None, param="response_format"), 0.0
        reply = reply or self._next_scripted(request.task)
        if reply is None and request.task in self._handlers:
            produced = self._handlers[request.task](request)
            reply = produced if isinstance(produced, FakeReply) else FakeReply(answer=produced)
        reply = reply or FakeReply()
        if reply.status == 0:
            return 0, {}, None, reply.delay
        if reply.status != 200:
            return reply.status, reply.headers, err_body(reply.error, reply.code), reply.delay
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


def err_body(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body: ``{"error": {"message", "type", "code", "param"}}``."""
    return {
        "error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}
    }
