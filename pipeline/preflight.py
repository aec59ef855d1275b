"""Checks a run makes before any fetch or transcription, so that a three-hour episode does
not fail hours in for a missing key or a model name with a typo.

:func:`check_llm` asks the endpoint for its models (``GET /models``; free, and no
tokens): a missing key, an endpoint that does not answer, a rejected key and a model the
endpoint does not list each fail in seconds with one line. Endpoints that do not list
models (a 404 or another refusal of that one route, as some proxies answer) only prove
they answer; the model is then checked by the first real request. :func:`preflight`
adds the system programs (:func:`pipeline.tools.require_tools`).

The local model (no endpoint or key, or ``[llm] provider = "local"``) is checked the same
way, before any fetch: llama-cpp-python is installed, and the GGUF file is there (the
pinned default is downloaded now, once), else one line says what to download and where
to put it (:func:`pipeline.llm.local.ensure_model`).
"""

from __future__ import annotations

import difflib

import openai

from pipeline.config import Config, LLMConfig
from pipeline.errors import LLMError
from pipeline.llm import SETUP_HINT
from pipeline.llm.openai_client import DEFAULT_BASE_URL
from pipeline.tools import require_tools

# Listing models is a cheap call that answers in well under a second; an endpoint that
# stays silent this long would time out the real requests too.
PREFLIGHT_TIMEOUT = 10.0
MODEL_HINT = "set [llm] model (PODPOST_LLM__MODEL or --llm-model) to a model it serves"


def check_llm(
    config: LLMConfig, *, sdk: openai.OpenAI | None = None, timeout: float = PREFLIGHT_TIMEOUT
) -> bool:
    """Whether the endpoint confirmed ``config.model`` (False: it does not list models).

    Raises :class:`LLMError` (one line, with the fix) for no key, an endpoint that cannot
    be reached or does not answer within ``timeout`` seconds, a rejected key (401), or a
    model missing from the endpoint's list. ``sdk`` is for tests. For the local model:
    True once llama.cpp is installed and the model file is at hand (:func:`check_local`).
    """
    if config.is_local:
        return check_local(config)
    if not config.api_key:
        raise LLMError("no API key for the LLM endpoint", hint=SETUP_HINT)
    base_url = config.base_url or DEFAULT_BASE_URL
    where = f"the LLM endpoint {base_url}"
    client = sdk or openai.OpenAI(
        api_key=config.api_key, base_url=base_url, timeout=timeout, max_retries=0
    )
    try:
        names = [model.id for model in client.models.list()]
    except openai.AuthenticationError as e:
        raise LLMError(f"{where} rejected the API key (401)", hint=SETUP_HINT) from e
    except openai.APITimeoutError as e:
        raise LLMError(f"{where} did not answer within {timeout:g} s", hint=SETUP_HINT) from e
    except openai.APIConnectionError as e:
        raise LLMError(f"cannot reach {where}", hint=SETUP_HINT) from e
    except openai.APIStatusError:
        return False  # it answered, but does not list models here (404, 403, 405...)
    if not names:
        return False
    if config.model in names or f"{config.model}:latest" in names:  # Ollama's default tag
        return True
    near = difflib.get_close_matches(config.model, names, n=1, cutoff=0.5)
    shown = ", ".join(sorted(names)[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    guess = f"did you mean {near[0]!r}? " if near else ""
    raise LLMError(
        f"{where} does not serve model {config.model!r} (it lists {shown})",
        hint=f"{guess}{MODEL_HINT}",
    )


def check_local(config: LLMConfig) -> bool:
    """True when llama-cpp-python imports and the local model file is there (downloaded
    now if it is the pinned default); else :class:`LLMError` or
    :class:`~pipeline.errors.MissingDependencyError`, one line with the fix."""
    from importlib.util import find_spec

    from pipeline.errors import MissingDependencyError
    from pipeline.llm.local import INSTALL_HINT, ensure_model

    if find_spec("llama_cpp") is None:
        raise MissingDependencyError(
            "llama-cpp-python is not installed; podpost needs it to run a model without an "
            "endpoint",
            hint=INSTALL_HINT,
        )
    ensure_model(config)
    return True


def preflight(config: Config) -> None:
    """Everything a run needs before its first step: ffmpeg and ffprobe, and the LLM."""
    require_tools()
    check_llm(config.llm)
