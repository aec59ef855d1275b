"""The LLM client: any OpenAI-compatible endpoint, structured output, our own retries.

Usage (stages take the client as a parameter, so tests hand them one pointed at the fake
server of :mod:`pipeline.testing.fakellm`)::

    client = make_client(config.llm)            # by name: [llm] backend = "openai"
    reply = client.complete_json(messages, MySchema, task="speaker_names")
    reply.value      # a validated MySchema instance
    reply.usage      # Usage(prompt_tokens=..., completion_tokens=..., requests=...)

Structured output goes down a ladder, remembered per client once an endpoint refuses a
rung: ``json_schema`` response format, then ``json_object`` (JSON mode), then plain text
that ``json_repair`` mends. ``<think>...</think>`` reasoning blocks and code fences are
stripped first. The JSON schema is always spelled out in the system message too, so the
lower rungs still know the shape.

Every request carries an ``X-Podpost-Task: <task>`` header: the fake server dispatches on
it, and it is handy in proxy logs.

Retries are ours (tenacity; the SDK's are off so counts are exact): 429, 5xx, timeouts and
dropped connections are retried with exponential backoff and jitter, honouring
``Retry-After`` / ``retry-after-ms``. 401, 403 and an unknown model raise :class:`LLMError`
at once. An endpoint that cannot be reached at all fails at once too, saying what to set.

Output problems a caller can repair (JSON that does not validate after one re-ask,
truncation, refusal) raise :class:`LLMOutputError` subclasses; the editorial steps catch
them and split or re-ask, other callers let them end the run.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import json_repair
import openai
import tenacity
from pydantic import BaseModel, ValidationError

from pipeline.config import LLMConfig
from pipeline.errors import (
    LLMError,
    LLMOutputError,
    LLMRefusalError,
    LLMTruncatedError,
)
from pipeline.registry import Registry

T = TypeVar("T", bound=BaseModel)

Mode = Literal["json_schema", "json_object", "text"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "text")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
TASK_HEADER = "X-Podpost-Task"

SETUP_HINT = (
    "set [llm] base_url and api_key in podpost.toml (or OPENAI_BASE_URL / OPENAI_API_KEY); "
    "for a local Ollama use base_url = 'http://localhost:11434/v1' with any api_key, "
    "for the offline fake run `python -m pipeline.testing.fakellm --port 8089` and use "
    "base_url = 'http://127.0.0.1:8089/v1'"
)


# --- tokens and usage -----------------------------------------------------------------

_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """Tokenizer-free estimate (no tokenizer files can be downloaded): one token per CJK
    character, one per four other characters. Good enough to size chunks; the endpoint's
    own ``usage`` is what gets recorded."""
    cjk = len(_CJK_RE.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )

    @staticmethod
    def total(usages: Sequence[Usage]) -> Usage:
        result = Usage()
        for usage in usages:
            result = result + usage
        return result

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class CallRecord:
    """One HTTP request that got an answer (successful or not) from the endpoint."""

    task: str
    mode: str
    status: int
    usage: Usage
    finish_reason: str | None
    seconds: float


@dataclass
class Reply(Generic[T]):
    value: T
    usage: Usage  # every request this call made, retries and re-asks included
    finish_reason: str | None = None
    mode: str = "json_schema"
    raw: str = ""


# --- parsing model text ---------------------------------------------------------------

_THINK_RE = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def strip_reasoning(text: str) -> str:
    text = _THINK_RE.sub("", text)
    # An unclosed block at the start (the answer was cut inside it) leaves nothing usable.
    if re.match(r"\s*<(think|thinking|reasoning)>", text, re.IGNORECASE):
        return ""
    fenced = _FENCE_RE.match(text)
    return (fenced.group(1) if fenced else text).strip()


def parse_json_text(text: str, *, repair: bool) -> Any:
    """The JSON value in ``text``; with ``repair``, mend it with json_repair if needed."""
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
    return (
        "Reply with one JSON object only, no prose and no code fences, matching this JSON "
        f"schema:\n{json.dumps(schema.model_json_schema(), ensure_ascii=False)}"
    )


# --- the client -----------------------------------------------------------------------


def _status_message(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return e.message


def _retry_after(e: BaseException) -> float | None:
    response = getattr(e, "response", None)
    if response is None:
        return None
    headers = response.headers
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / divisor)
        except ValueError:
            continue
    return None


def _is_transient(e: BaseException) -> bool:
    if isinstance(e, openai.APITimeoutError):
        return True
    if isinstance(e, openai.APIStatusError):
        if (e.code or "") == "insufficient_quota":  # a 429 that waiting does not fix
            return False
        return e.status_code in (408, 409, 429) or e.status_code >= 500
    return False


_TOO_LONG_RE = re.compile(r"context[ _]length|maximum context|too many tokens|too long", re.I)


class OpenAIClient:
    """Chat completions over the ``openai`` SDK. Thread-safe; at most ``max_concurrency``
    requests are in flight at once, however many threads call it."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        sdk: openai.OpenAI | None = None,
    ) -> None:
        if not config.api_key:
            raise LLMError("no API key for the LLM endpoint", hint=SETUP_HINT)
        self.config = config
        self.base_url = config.base_url or DEFAULT_BASE_URL
        # base_url and api_key are always passed, so the SDK never reads the environment.
        self._sdk = sdk or openai.OpenAI(
            api_key=config.api_key,
            base_url=self.base_url,
            timeout=config.timeout,
            max_retries=0,
        )
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max(1, config.max_concurrency))
        self._lock = threading.Lock()
        self._mode_index = 0
        self._reached = False
        self.calls: list[CallRecord] = []

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def mode(self) -> Mode:
        return MODES[self._mode_index]

    def usage(self) -> Usage:
        with self._lock:
            return Usage.total([c.usage for c in self.calls])

    # -- one request, with retries ------------------------------------------------------

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = _retry_after(error) if error is not None else None
        if hinted is not None:
            return min(hinted, self.config.retry_max_wait)
        base = self.config.retry_initial_wait * 2 ** (retry_state.attempt_number - 1)
        return min(self.config.retry_max_wait, base) * (0.5 + random.random() / 2)

    def _retryable(self, e: BaseException) -> bool:
        # A dropped connection is a hiccup once the endpoint has answered; before that it
        # is a wrong base_url or a server that is not running, and retrying only delays.
        return _is_transient(e) or (self._reached and isinstance(e, openai.APIConnectionError))

    def _create(self, task: str, request: dict[str, Any]) -> tuple[Any, int]:
        """The completion and how many requests it took."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._retryable),
            wait=self._wait,
            stop=tenacity.stop_after_attempt(self.config.max_retries + 1),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            completion = retrying(self._create_once, task, request)
            return completion, retrying.statistics.get("attempt_number", 1)
        except openai.APITimeoutError as e:
            raise LLMError(
                f"the LLM endpoint {self.base_url} timed out {self.config.max_retries + 1} "
                f"times (timeout {self.config.timeout:g}s)",
                hint="raise [llm] timeout or lower [llm] max_concurrency, then rerun",
                retryable=True,
            ) from e
        except openai.APIConnectionError as e:
            raise LLMError(f"cannot reach the LLM endpoint {self.base_url}", hint=SETUP_HINT) from e
        except openai.APIStatusError as e:
            raise self._status_error(e) from e

    def _status_error(self, e: openai.APIStatusError) -> Exception:
        detail = _status_message(e)
        where = f"the LLM endpoint {self.base_url}"
        if e.status_code == 401:
            return LLMError(f"{where} rejected the API key (401: {detail})", hint=SETUP_HINT)
        if (e.code or "") == "insufficient_quota":
            return LLMError(
                f"{where} says the account is out of quota ({e.status_code}: {detail})",
                hint="add credit or use another key or endpoint",
            )
        if e.status_code == 403:
            return LLMError(
                f"{where} refused access (403: {detail})",
                hint="check that the key may use this model",
            )
        if (e.code or "") == "model_not_found" or (e.status_code == 404 and "model" in detail):
            return LLMError(
                f"{where} does not know model {self.config.model!r} ({e.status_code}: {detail})",
                hint="set [llm] model (PODPOST_LLM__MODEL) to a model the endpoint serves",
            )
        if e.status_code == 404:
            return LLMError(
                f"{where} has no chat completions API (404: {detail})",
                hint="an OpenAI-compatible base_url usually ends in /v1, e.g. "
                "http://localhost:11434/v1 for Ollama",
            )
        if e.status_code in (400, 413) and (
            _TOO_LONG_RE.search(detail) or (e.code or "") == "context_length_exceeded"
        ):
            return LLMTruncatedError(
                f"the request is too long for model {self.config.model!r} "
                f"({e.status_code}: {detail})",
                hint="lower [editorial] chunk_max_tokens or raise the model's context",
            )
        if _is_transient(e):
            return LLMError(
                f"{where} kept failing ({e.status_code}: {detail}) after "
                f"{self.config.max_retries + 1} attempts",
                hint="wait and rerun; finished work is cached",
                retryable=True,
            )
        return LLMError(f"{where} rejected the request ({e.status_code}: {detail})")

    def _create_once(self, task: str, request: dict[str, Any]) -> Any:
        started = time.monotonic()
        with self._slots:
            try:
                completion = self._sdk.chat.completions.create(
                    **request, extra_headers={TASK_HEADER: task}
                )
            except openai.APIStatusError as e:
                self._reached = True
                self._record(task, request, e.status_code, None, None, started)
                raise
        self._reached = True
        self._record(task, request, 200, completion.usage, _finish(completion), started)
        return completion

    def _record(
        self, task: str, request: dict[str, Any], status: int, usage: Any, finish: Any, t0: float
    ) -> None:
        record = CallRecord(
            task=task,
            mode=str(request.get("response_format", {}).get("type", "text")),
            status=status,
            usage=Usage(
                getattr(usage, "prompt_tokens", 0) or 0,
                getattr(usage, "completion_tokens", 0) or 0,
                1,
            ),
            finish_reason=finish,
            seconds=time.monotonic() - t0,
        )
        with self._lock:
            self.calls.append(record)

    # -- structured output --------------------------------------------------------------

    def complete_json(
        self,
        messages: list[dict[str, str]],
        schema: type[T],
        *,
        task: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply[T]:
        """Ask for one JSON object matching ``schema``; re-ask once if it does not validate."""
        usages: list[Usage] = []
        problem: str | None = None
        raw = ""
        for attempt in range(2):
            asked = messages
            if attempt:
                asked = [
                    *messages,
                    {"role": "assistant", "content": raw},
                    {
                        "role": "user",
                        "content": f"That reply was not usable: {problem}. "
                        "Reply again with the complete JSON object only.",
                    },
                ]
            completion, mode, attempts = self._complete(
                asked, schema, task, temperature, max_tokens
            )
            usages.append(_usage(completion, attempts))
            choice = completion.choices[0]
            finish = choice.finish_reason
            message = choice.message
            refusal = getattr(message, "refusal", None)
            if refusal or finish == "content_filter":
                raise _spent(
                    LLMRefusalError(f"the model refused the {task} request: {refusal or finish}"),
                    usages,
                )
            raw = message.content or ""
            if finish == "length":
                raise _spent(
                    LLMTruncatedError(
                        f"the {task} answer was cut off at the output limit "
                        f"({_usage(completion).completion_tokens} tokens)",
                        hint="ask for less per request",
                    ),
                    usages,
                )
            try:
                value = schema.model_validate(parse_json_text(raw, repair=True))
                return Reply(value, Usage.total(usages), finish, mode, raw)
            except (ValueError, ValidationError) as e:
                problem = _short_problem(e)
        raise _spent(
            LLMOutputError(f"the {task} answer is not valid JSON for its schema: {problem}"), usages
        )

    def _complete(
        self,
        messages: list[dict[str, str]],
        schema: type[BaseModel],
        task: str,
        temperature: float | None,
        max_tokens: int | None,
    ) -> tuple[Any, Mode, int]:
        while True:
            with self._lock:
                index = self._mode_index
            mode = MODES[index]
            request: dict[str, Any] = {
                "model": self.config.model,
                "messages": _with_schema(messages, schema, mode),
                "temperature": self.config.temperature if temperature is None else temperature,
            }
            if max_tokens:
                request["max_tokens"] = max_tokens
            if mode == "json_schema":
                request["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": task,
                        "schema": schema.model_json_schema(),
                        "strict": False,
                    },
                }
            elif mode == "json_object":
                request["response_format"] = {"type": "json_object"}
            try:
                completion, attempts = self._create(task, request)
                return completion, mode, attempts
            except LLMError as e:
                cause = e.__cause__
                if (
                    isinstance(cause, openai.BadRequestError | openai.UnprocessableEntityError)
                    and mode != "text"
                    and _mentions_format(cause)
                ):
                    with self._lock:  # this endpoint lacks the rung: step down for good
                        self._mode_index = max(self._mode_index, index + 1)
                    continue
                raise


def _spent(error: LLMOutputError, usages: list[Usage]) -> LLMOutputError:
    error.usage = Usage.total(usages)
    return error


def _mentions_format(e: openai.APIStatusError) -> bool:
    text = f"{e.param or ''} {_status_message(e)}".lower()
    return any(w in text for w in ("response_format", "json_schema", "json_object", "format"))


def _finish(completion: Any) -> str | None:
    choices = getattr(completion, "choices", None) or []
    return choices[0].finish_reason if choices else None


def _usage(completion: Any, requests: int = 1) -> Usage:
    usage = getattr(completion, "usage", None)
    return Usage(
        getattr(usage, "prompt_tokens", 0) or 0,
        getattr(usage, "completion_tokens", 0) or 0,
        requests,
    )


def _with_schema(
    messages: list[dict[str, str]], schema: type[BaseModel], mode: Mode
) -> list[dict[str, str]]:
    """JSON schema mode carries the schema in ``response_format``; lower rungs need it in
    the prompt (JSON mode also insists that the prompt says "JSON")."""
    note = "Reply with one JSON object only." if mode == "json_schema" else schema_prompt(schema)
    messages = list(messages)
    if messages and messages[0]["role"] == "system":
        messages[0] = {**messages[0], "content": messages[0]["content"] + "\n\n" + note}
    else:
        messages.insert(0, {"role": "system", "content": note})
    return messages


def _short_problem(e: Exception) -> str:
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        return f"{where}: {first['msg']} ({e.error_count()} problem(s))"
    return str(e)[:200]


# --- backends by name -----------------------------------------------------------------


class LLMClient(Protocol):
    """What stages need from a client; tests may hand them any object with these."""

    @property
    def model(self) -> str: ...

    def complete_json(
        self,
        messages: list[dict[str, str]],
        schema: type[T],
        *,
        task: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply[T]: ...


backends: Registry[OpenAIClient] = Registry("LLM", "[llm] backend")


@backends.register("openai")
def _openai_backend(config: LLMConfig, **kwargs: Any) -> OpenAIClient:
    return OpenAIClient(config, **kwargs)


def make_client(config: LLMConfig, **kwargs: Any) -> OpenAIClient:
    """The client named by ``[llm] backend`` (``openai`` covers every compatible server)."""
    return backends.get(config.backend)(config, **kwargs)


__all__ = [
    "CallRecord",
    "LLMClient",
    "OpenAIClient",
    "Reply",
    "Usage",
    "estimate_tokens",
    "make_client",
    "parse_json_text",
    "strip_reasoning",
]
