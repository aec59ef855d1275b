"""What an LLM call gives back, and what stages need from a client.

- :func:`estimate_tokens`: a tokenizer-free token count, to size chunks;
- :class:`Usage`: tokens and requests spent, summed over calls;
- :class:`CallRecord`: one HTTP request that got an answer, as the client logs it;
- :class:`Reply`: a validated answer with its usage;
- :class:`LLMClient`: the protocol stages are written against (the OpenAI client, the
  in-process fake of :mod:`pipeline.testing.fakeclient`, or any object with these).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, Field, create_model
from pydantic.config import JsonDict, JsonValue

T = TypeVar("T", bound=BaseModel)

_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """Tokens in ``text``, estimated: one per CJK character, one per four other characters.

    No tokenizer files can be downloaded, and sizing chunks needs no more than this; the
    endpoint's own ``usage`` is what gets recorded. Never negative; 0 for ``""``.
    """
    cjk = len(_CJK_RE.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


@dataclass(frozen=True)
class Usage:
    """Tokens and HTTP requests spent; ``a + b`` adds field by field.

    ``requests`` counts every request, retries and re-asks included, answered or not by a
    200, so it says what the endpoint billed or refused.
    """

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
        """The sum of ``usages``; ``Usage()`` for none."""
        result = Usage()
        for usage in usages:
            result = result + usage
        return result

    def as_dict(self) -> dict[str, int]:
        """``{"prompt_tokens": int, "completion_tokens": int, "requests": int}`` for JSON."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class CallRecord:
    """One HTTP request that got an answer (successful or not) from the endpoint.

    ``mode`` is the response format asked for (``json_schema``, ``json_object``, ``text``),
    ``status`` the HTTP status, ``seconds`` the wall time including the wait for a slot.
    """

    task: str
    mode: str
    status: int
    usage: Usage
    finish_reason: str | None
    seconds: float


@dataclass
class Reply(Generic[T]):
    """A validated answer: ``value`` is an instance of the schema asked for.

    ``usage`` counts every request the call made, retries and re-asks included; ``mode``
    is the structured-output rung that answered; ``raw`` the assistant text as sent.
    """

    value: T
    usage: Usage
    finish_reason: str | None = None
    mode: str = "json_schema"
    raw: str = ""


class LLMClient(Protocol):
    """What stages need from a client; tests may hand them any object with these."""

    @property
    def model(self) -> str:
        """The model name requests go to (recorded with results, part of cache keys)."""
        ...

    def complete_json(
        self,
        messages: list[dict[str, str]],
        schema: type[T],
        *,
        task: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply[T]:
        """One JSON object matching ``schema`` for the chat ``messages``.

        ``task`` names the request (logs, the fake's dispatch). Raises
        :class:`~pipeline.errors.LLMOutputError` (or a subclass) when the endpoint answered
        unusably, :class:`~pipeline.errors.LLMError` when it could not be used at all.
        """
        ...


M = TypeVar("M", bound=BaseModel)


def one_item_each(
    base: type[M], field: str, item: type[BaseModel], items: list[JsonDict]
) -> type[M]:
    """``base`` with its list ``field`` (of ``item``) held, in the JSON schema only, to
    exactly one item per schema of ``items``, in order (``prefixItems``, no other items).

    A grammar-held model cannot answer more or fewer items than were asked, nor put another
    id where one is fixed; validation stays ``base``'s own, so a remote endpoint's answer
    means what it did. Used for the translation of a batch of lines and for speaker naming.
    """
    bounded: JsonDict = {
        "minItems": len(items),
        "maxItems": len(items),
        "prefixItems": list[JsonValue](items),
        "items": False,
    }
    fields: dict[str, Any] = {field: (list[item], Field(json_schema_extra=bounded))}  # type: ignore[valid-type]
    return create_model(base.__name__, __base__=base, __doc__=base.__doc__, **fields)
