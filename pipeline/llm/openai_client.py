"""The OpenAI-compatible client: chat completions, structured output, our own retries.

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

Each answer raises the audit event ``podpost.llm.answer`` (task, attempt: 1 or 2, valid:
bool, mode, repaired: bool, whether json_repair had to mend the text) through
:func:`sys.audit`: a free no-op unless a hook is installed, it lets a test or a profiler
outside the process see which answers needed the re-ask or a repair.

Output problems a caller can repair (JSON that does not validate after one re-ask,
truncation, refusal) raise :class:`LLMOutputError` subclasses; every other failure is an
:class:`LLMError` that says the endpoint is unusable as configured (``retryable`` when
waiting may help).
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

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
from pipeline.llm.parse import Mode, parse_json_text, short_problem, with_schema
from pipeline.llm.types import CallRecord, Reply, T, Usage

MODES: tuple[Mode, ...] = ("json_schema", "json_object", "text")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
TASK_HEADER = "X-Podpost-Task"

SETUP_HINT = (
    "set [llm] base_url and api_key in podpost.toml (or OPENAI_BASE_URL / OPENAI_API_KEY); "
    "for a local Ollama use base_url = 'http://localhost:11434/v1' with any api_key, "
    "for the offline fake run `python -m pipeline.testing.fakellm --port 8089` and use "
    "base_url = 'http://127.0.0.1:8089/v1'"
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
    """Chat completions over the ``openai`` SDK, for one ``[llm]`` configuration.

    Thread-safe; at most ``config.max_concurrency`` requests are in flight at once, however
    many threads call it. ``sleep`` waits between retries (tests pass a recorder); ``sdk``
    replaces the SDK client. ``calls`` logs every answered request as a
    :class:`CallRecord`. Raises :class:`LLMError` at once when ``config.api_key`` is empty.
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        sdk: Any = None,  # openai.OpenAI, or an object with its two calls (LocalSDK)
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
        """``[llm] model``: the model every request asks for."""
        return self.config.model

    @property
    def mode(self) -> Mode:
        """The structured-output rung in use now (it only steps down, never back up)."""
        return MODES[self._mode_index]

    def usage(self) -> Usage:
        """Everything this client has spent so far, over all threads and tasks."""
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
        except openai.APIError as e:  # a 200 whose body is not a chat completion
            raise LLMError(
                f"the LLM endpoint {self.base_url} answered with something that is not a chat "
                f"completion ({type(e).__name__}: {e})",
                hint="check that [llm] base_url points at an OpenAI-compatible /v1 API",
            ) from e

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
        """One JSON object matching ``schema``; re-asks once when the answer does not validate.

        ``messages`` are chat messages (``{"role": ..., "content": ...}``); ``task`` names the
        request in the ``X-Podpost-Task`` header and the call log; ``temperature`` defaults
        to ``[llm] temperature``; ``max_tokens`` caps the answer (None: the endpoint's cap).

        Raises :class:`LLMRefusalError` (refused), :class:`LLMTruncatedError` (cut off at
        the output limit, or the request is over the context), :class:`LLMOutputError`
        (invalid twice), each with ``.usage`` set; :class:`LLMError` when the endpoint
        cannot be used (auth, model, unreachable, retries exhausted: ``retryable`` then).
        """
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
            if not getattr(completion, "choices", None):
                raise _spent(LLMOutputError(f"the {task} answer has no choices"), usages)
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
            repaired = not _parses(raw)
            try:
                value = schema.model_validate(parse_json_text(raw, repair=True))
            except (ValueError, ValidationError) as e:
                problem = short_problem(e)
                sys.audit("podpost.llm.answer", task, attempt + 1, False, mode, repaired)
                continue
            sys.audit("podpost.llm.answer", task, attempt + 1, True, mode, repaired)
            return Reply(value, Usage.total(usages), finish, mode, raw)
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
                "messages": with_schema(messages, schema, mode),
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


def _parses(raw: str) -> bool:
    """Whether ``raw`` is JSON as it stands (reasoning and fences aside), no repair needed."""
    try:
        parse_json_text(raw, repair=False)
    except ValueError:
        return False
    return True


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
