"""The LLM client: any OpenAI-compatible endpoint, structured output, our own retries.

Usage (stages take the client as a parameter, so tests hand them the in-process
:class:`pipeline.testing.fakeclient.FakeClient`, or a real client pointed at the fake server
of :mod:`pipeline.testing.fakellm`)::

    client = make_client(config.llm)            # by name: [llm] backend = "openai"
    reply = client.complete_json(messages, MySchema, task="speaker_names")
    reply.value      # a validated MySchema instance
    reply.usage      # Usage(prompt_tokens=..., completion_tokens=..., requests=...)

The package's modules:

- :mod:`pipeline.llm.types`: ``Usage``, ``Reply``, ``CallRecord``, the ``LLMClient``
  protocol and ``estimate_tokens``;
- :mod:`pipeline.llm.parse`: model text to JSON (reasoning blocks, fences, repair);
- :mod:`pipeline.llm.openai_client`: the client over the ``openai`` SDK, its structured
  output ladder, retries and the translation of SDK errors into :mod:`pipeline.errors`;
- :mod:`pipeline.llm.local`: a GGUF model run in process by llama.cpp, behind that same
  client (what ``make_client`` gives when no endpoint or key is set, or with
  ``[llm] provider = "local"``), its JSON answers held to their schemas by a grammar.

Errors: :class:`~pipeline.errors.LLMOutputError` and its subclasses when the endpoint
answered but not usably (callers may repair: split, re-ask, fall back);
:class:`~pipeline.errors.LLMError` itself when the endpoint cannot be used as configured
(no key, 401/403, unknown model, unreachable, retries exhausted).

The ``openai`` SDK (about a second of imports) loads with :mod:`pipeline.llm.openai_client`,
on the first :func:`make_client` or use of ``OpenAIClient``, ``SETUP_HINT`` or
``TASK_HEADER``: stages import this package for ``LLMClient`` and ``Usage``, and a command
that sends no request (``podpost turns --no-llm``, ``podpost status``) never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.llm.parse import parse_json_text, schema_prompt, strip_reasoning
from pipeline.llm.types import CallRecord, LLMClient, Reply, Usage, estimate_tokens
from pipeline.registry import Registry

if TYPE_CHECKING:
    from pipeline.config import LLMConfig
    from pipeline.llm.openai_client import SETUP_HINT, TASK_HEADER, OpenAIClient

_LAZY = frozenset({"OpenAIClient", "SETUP_HINT", "TASK_HEADER"})  # from openai_client


def __getattr__(name: str) -> Any:
    """``OpenAIClient``, ``SETUP_HINT``, ``TASK_HEADER``: imported on first use (PEP 562)."""
    if name in _LAZY:
        from pipeline.llm import openai_client

        return getattr(openai_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


backends: Registry[OpenAIClient] = Registry("LLM", "[llm] backend")


@backends.register("openai")
def _openai_backend(config: LLMConfig, **kwargs: Any) -> OpenAIClient:
    from pipeline.llm.openai_client import OpenAIClient

    return OpenAIClient(config, **kwargs)


@backends.register("local")
def _local_backend(config: LLMConfig, **kwargs: Any) -> OpenAIClient:
    from pipeline.llm.local import local_sdk  # loads llama.cpp: only when asked for
    from pipeline.llm.openai_client import OpenAIClient

    sdk = kwargs.pop("sdk", None) or local_sdk(config)
    # The same client as for an endpoint; the key and URL only name the model in messages.
    named = config.model_copy(
        update={"api_key": "local", "base_url": f"local:{config.local_file_name}"}
    )
    return OpenAIClient(named, sdk=sdk, **kwargs)


def make_client(config: LLMConfig, **kwargs: Any) -> OpenAIClient:
    """The client for ``config``: the local model when no endpoint or key is set (or
    ``[llm] provider = "local"``), else the one named by ``[llm] backend`` (``openai``
    covers every compatible server).

    ``kwargs`` go to the client (``sleep=`` for tests, ``sdk=`` to replace the SDK).
    Raises :class:`~pipeline.errors.UnknownBackendError` for an unknown backend name,
    :class:`~pipeline.errors.LLMError` when no API key is configured for an endpoint or
    the local model cannot be had.
    """
    return backends.get("local" if config.is_local else config.backend)(config, **kwargs)


def model_hint(config: LLMConfig) -> str:
    """What to change when the model keeps giving no usable answers: for the local model a
    bigger one or an endpoint, for an endpoint its model and URL."""
    if config.is_local:
        return (
            "try a bigger local model ([llm] local_model = a GGUF file, see "
            "docs/local-model.md) or an endpoint ([llm] base_url and api_key)"
        )
    return "check [llm] model and base_url"


__all__ = [
    "SETUP_HINT",
    "TASK_HEADER",
    "CallRecord",
    "LLMClient",
    "OpenAIClient",
    "Reply",
    "Usage",
    "backends",
    "estimate_tokens",
    "make_client",
    "model_hint",
    "parse_json_text",
    "schema_prompt",
    "strip_reasoning",
]
