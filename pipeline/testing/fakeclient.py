"""An in-process LLM client for unit tests: ``enqueue`` answers, read ``history``.

In the manner of the ``llm`` library's ``MockModel``, for stages that need an
:class:`~pipeline.llm.LLMClient` but not HTTP::

    client = FakeClient()
    client.enqueue({"speakers": [{"cluster": "S0", "name": "Ann Lee"}]})  # next answer
    client.enqueue("Sure! S0 is Ann", task="speaker_names")   # raw text, for that task
    client.enqueue(FakeReply.truncated())                      # any scripted fault
    client.enqueue(LLMError("the endpoint rejected the API key (401)"))  # raised as is
    speakers = name_speakers(turns, episode, config, client)
    [call] = client.history            # FakeCall(task, messages, schema, ...)
    call.header                        # the JSON header of the user message

A call takes the first queued answer for its task (``task=None``: any task); with nothing
queued it gets a handler's answer (``client.handle(task, fn)``, as on the fake server) or
the fake server's default answer (:mod:`pipeline.testing.fakellm.answers`), so an
unscripted stage behaves as it does against ``python -m pipeline.testing.fakellm``.

It answers through the same :class:`~pipeline.testing.fakellm.FakeLLM` as the server, but
without HTTP, retries or the client's one re-ask: an answer that does not validate raises
:class:`~pipeline.errors.LLMOutputError` at once (what the real client raises after its
re-ask), a non-200 status raises :class:`~pipeline.errors.LLMError` (``retryable`` for 408,
429 and 5xx). The client's own behaviour is tested against the server, in tests/test_llm.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.errors import LLMError, LLMOutputError, LLMRefusalError, LLMTruncatedError
from pipeline.llm import TASK_HEADER, Reply, Usage, parse_json_text
from pipeline.llm.parse import short_problem, with_schema
from pipeline.llm.types import T
from pipeline.testing.fakellm import FakeLLM, FakeReply, FakeRequest

Queued = FakeReply | BaseException


@dataclass(frozen=True)
class FakeCall:
    """One ``complete_json`` call: its arguments as given, and the raw answer text
    (``""`` when the call raised before an answer)."""

    task: str
    messages: list[dict[str, str]]
    schema: type[BaseModel]
    temperature: float | None
    max_tokens: int | None
    raw: str = ""

    @property
    def header(self) -> dict[str, Any]:
        """The JSON object that opens the last user message (podpost's wire format), or
        the whole message as JSON; ``{}`` when it is neither."""
        users = [m for m in self.messages if m.get("role") == "user"]
        request = FakeRequest(self.task, {"messages": users[-1:]}, {})
        if request.header:
            return request.header
        try:
            value = json.loads(request.user_text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


class FakeClient:
    """An :class:`~pipeline.llm.LLMClient` that answers in-process (see the module doc).

    ``model`` is the model name it reports; ``fake`` the :class:`FakeLLM` whose handlers
    and defaults answer unqueued calls (a new one by default). Thread-safe.
    """

    def __init__(self, model: str = "fake-model", *, fake: FakeLLM | None = None) -> None:
        self._model = model
        self.fake = fake or FakeLLM()
        self.history: list[FakeCall] = []
        self._queue: list[tuple[str | None, Queued]] = []
        self._spent: list[Usage] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        """The model name given at construction."""
        return self._model

    def enqueue(self, *answers: Any, task: str | None = None) -> None:
        """Queue answers, used in order by calls for ``task`` (None: for any task).

        Each answer is a JSON-able object or a pydantic model (sent as JSON), a ``str``
        (sent as the raw assistant text), a :class:`FakeReply` (a status, refusal,
        truncation...), or an exception (raised by the call as is).
        """
        with self._lock:
            self._queue.extend((task, _as_queued(answer)) for answer in answers)

    def handle(self, task: str, handler: Callable[[FakeRequest], Any]) -> None:
        """Answer unqueued calls for ``task`` with ``handler(request)`` (see ``FakeLLM``)."""
        self.fake.handle(task, handler)

    @property
    def pending(self) -> int:
        """How many queued answers no call has taken yet."""
        with self._lock:
            return len(self._queue)

    def usage(self) -> Usage:
        """Tokens (estimated as the fake server does) and calls spent so far."""
        with self._lock:
            return Usage.total(self._spent)

    def complete_json(
        self,
        messages: list[dict[str, str]],
        schema: type[T],
        *,
        task: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply[T]:
        """The next answer for ``task``, validated against ``schema``.

        Raises the queued exception, :class:`LLMError` for a non-200 status,
        :class:`LLMRefusalError`, :class:`LLMTruncatedError` or :class:`LLMOutputError`
        (with ``.usage``) for an answer that is not usable.
        """
        queued = self._take(task)
        call = FakeCall(task, list(messages), schema, temperature, max_tokens)
        if isinstance(queued, BaseException):
            self._remember(call, Usage(requests=1))
            raise queued
        body = {
            "model": self._model,
            "messages": with_schema(messages, schema, "json_schema"),
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": task, "schema": schema.model_json_schema()},
            },
        }
        status, _, payload, _ = self.fake.chat(body, {TASK_HEADER: task}, reply=queued)
        if status != 200:
            self._remember(call, Usage(requests=1))
            raise _status_error(task, status, payload)
        choice = payload["choices"][0]
        raw = choice["message"]["content"] or ""
        usage = Usage(payload["usage"]["prompt_tokens"], payload["usage"]["completion_tokens"], 1)
        self._remember(FakeCall(task, list(messages), schema, temperature, max_tokens, raw), usage)
        problem: LLMOutputError
        if choice["message"].get("refusal"):
            problem = LLMRefusalError(f"the model refused the {task} request")
        elif choice["finish_reason"] == "length":
            problem = LLMTruncatedError(f"the {task} answer was cut off at the output limit")
        else:
            try:
                value = schema.model_validate(parse_json_text(raw, repair=True))
                return Reply(value, usage, choice["finish_reason"], "json_schema", raw)
            except (ValueError, ValidationError) as e:
                problem = LLMOutputError(f"the {task} answer is not valid: {short_problem(e)}")
        problem.usage = usage
        raise problem

    def _take(self, task: str) -> Queued | None:
        with self._lock:
            for index, (wanted, queued) in enumerate(self._queue):
                if wanted is None or wanted == task:
                    del self._queue[index]
                    return queued
        return None

    def _remember(self, call: FakeCall, usage: Usage) -> None:
        with self._lock:
            self.history.append(call)
            self._spent.append(usage)


def _as_queued(answer: Any) -> Queued:
    if isinstance(answer, FakeReply | BaseException):
        return answer
    if isinstance(answer, str):
        return FakeReply(content=answer)
    if isinstance(answer, BaseModel):
        return FakeReply(answer=answer.model_dump(mode="json"))
    return FakeReply(answer=answer)


def _status_error(task: str, status: int, payload: Any) -> LLMError:
    """The error the real client raises for ``status`` (after its retries, where it retries)."""
    if status == 0:
        return LLMError(f"the fake endpoint hung up on the {task} request", retryable=True)
    detail = ((payload or {}).get("error") or {}).get("message") or "no message"
    transient = status in (408, 429) or status >= 500
    return LLMError(
        f"the fake endpoint answered the {task} request with {status}: {detail}",
        retryable=transient,
    )
