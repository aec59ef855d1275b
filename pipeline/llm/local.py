"""A model podpost runs itself: a GGUF file through llama.cpp (llama-cpp-python), in process.

It sits behind the same :class:`~pipeline.llm.openai_client.OpenAIClient` as any endpoint:
:class:`LocalSDK` answers the two calls the client makes of the ``openai`` SDK
(``chat.completions.create`` and ``models.list``) with the SDK's own types, so the
structured-output ladder, retries, re-asks, token accounting and the call log are the
same code for both. Nothing listens on a socket.

Structured output is a grammar: a request's ``response_format`` JSON schema becomes a
llama.cpp grammar (:func:`schema_grammar`), so every token the model samples keeps the
answer inside the schema: it cannot break the JSON, miss a required key or give a number
for a string. The client's validators still run on what comes back, for content. A string
or list the schema leaves unbounded gets a bound in the grammar (:func:`bounded_schema`),
so a small model that does not stop writing still ends its answer.

Sampling under a grammar is kept cheap (:class:`GrammarSampling`): llama-cpp-python checks
every token of the vocabulary (262k for Gemma 3) against the grammar at each step; here the
grammar first sees only the most likely tokens, and the whole vocabulary only when none of
those fits, as llama.cpp's own sampler does.

The model file: ``[llm] local_model`` when set, else the pinned default of ``[llm]``
(repository, revision, file, sha256) from ``[llm] local_cache``, downloaded there on first
use with a progress bar (:func:`ensure_model`). Without the file and without a network the
error says in one line what to download and where to put it.
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.config import LLMConfig
from pipeline.errors import LLMError, LLMTruncatedError, MissingDependencyError
from pipeline.fsutil import sha256_of

GGUF_MAGIC = b"GGUF"
HUB_URL = "https://huggingface.co"
# llama-cpp-python's chat formats named like a GGUF's general.architecture (digits dropped:
# gemma3 -> gemma), for model files that carry no chat template of their own
KNOWN_CHAT_FORMATS = frozenset({"gemma", "qwen"})
PROBE_TIMEOUT = 10.0  # seconds to reach the hub before saying what to download by hand
# Bounds the grammar puts on a string or list its schema leaves open (the schema's own
# bounds win): a model that does not stop writing ends its answer all the same.
DEFAULT_MAX_CHARS = 200
DEFAULT_MAX_ITEMS = 50
# llama.cpp refuses a grammar whose string nests deeper than about a thousand characters (a
# bound of 1010 failed to parse): a longer maxLength is left out of the grammar, unbounded
GRAMMAR_MAX_CHARS = 1000
GRAMMAR_CACHE = 32  # grammars kept (per schema; a translation schema is per request)
GRAMMAR_TOP_K = 64  # tokens the grammar checks first (GrammarSampling)
# A character inside a JSON string. llama-cpp-python's converter (0.3.36) writes
# `[^"\\]`, which lets a raw newline or tab into a string: JSON that strict parsers refuse,
# so an answer needed a repair. This is llama.cpp's own rule today.
JSON_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
INSTALL_HINT = "run scripts/setup.sh (it builds llama-cpp-python), or set [llm] base_url"


def download_url(config: LLMConfig) -> str:
    """Where the pinned default model file can be downloaded by hand."""
    return f"{HUB_URL}/{config.local_repo}/resolve/{config.local_revision}/{config.local_file}"


def cached_path(config: LLMConfig) -> Path:
    """Where the pinned default model lives once downloaded: ``<local_cache>/<local_file>``."""
    return config.local_cache / config.local_file


def _check_gguf(path: Path) -> Path:
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise LLMError(
            f"cannot read the local model {path}: {e.strerror or e}",
            hint="set [llm] local_model to a readable GGUF file",
        ) from e
    if magic != GGUF_MAGIC:
        raise LLMError(
            f"the local model {path} is not a GGUF file",
            hint="set [llm] local_model to a .gguf file (llama.cpp's format)",
        )
    return path


def _probe(host: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise ``OSError`` at once when ``host`` cannot be reached (no network, no DNS): the
    hub client would retry with back-off for half a minute, printing each attempt."""
    with socket.create_connection((host, 443), timeout=timeout):
        pass


def _download(config: LLMConfig, target: Path) -> None:
    """Fetch the pinned file into ``target`` (a progress bar on stderr), check its sha256."""
    from huggingface_hub import hf_hub_download  # only on first use

    _probe(HUB_URL.removeprefix("https://"))
    target.parent.mkdir(parents=True, exist_ok=True)
    fetched = Path(
        hf_hub_download(
            config.local_repo,
            config.local_file,
            revision=config.local_revision,
            local_dir=target.parent,
        )
    )
    digest = sha256_of(fetched)
    if digest != config.local_sha256:
        fetched.unlink(missing_ok=True)
        raise LLMError(
            f"the downloaded {config.local_file} has sha256 {digest}, "
            f"not the pinned {config.local_sha256}",
            hint="rerun to download it again, or set [llm] local_model to a file you trust",
        )
    if fetched != target:
        os.replace(fetched, target)


def ensure_model(config: LLMConfig) -> Path:
    """The local model file, downloaded first if it is the default and not cached yet.

    Raises :class:`LLMError` (one line: what to download and where to put it) when the
    file is missing and cannot be downloaded, or is not a GGUF file."""
    if config.local_model is not None:
        if not config.local_model.is_file():
            raise LLMError(
                f"[llm] local_model {config.local_model} does not exist",
                hint="point it at a GGUF file you have, or remove it to use the default model",
            )
        return _check_gguf(config.local_model)
    target = cached_path(config)
    if target.is_file():
        return _check_gguf(target)
    try:
        _download(config, target)
    except LLMError:
        raise
    except Exception as e:  # offline, proxy, disk: every way the download can fail
        raise LLMError(
            f"no local model yet and it cannot be downloaded "
            f"({getattr(e, 'strerror', None) or type(e).__name__})",
            hint=f"download {download_url(config)} and save it as {target}, or set "
            "[llm] local_model to a GGUF file you have, or set [llm] base_url and api_key "
            "for an endpoint",
        ) from e
    return _check_gguf(target)


def machine_threads(config: LLMConfig) -> int:
    """``[llm] local_threads``, else the CPUs this process may run on."""
    if config.local_threads:
        return config.local_threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --- the in-process "SDK" ------------------------------------------------------------------

_STRING_BOUNDS = ("maxLength", "pattern", "enum", "const", "format")
_SUBSCHEMAS = ("items", "additionalProperties")
_SCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf", "allOf")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


def bounded_schema(
    schema: dict[str, Any],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> dict[str, Any]:
    """A copy of ``schema`` where every string without a bound of its own (``maxLength``,
    ``pattern``, ``enum``, ``const``, ``format``) has ``maxLength: max_chars`` and every
    list without ``maxItems`` (or ``prefixItems``) has ``maxItems: max_items``. A
    ``maxLength`` over :data:`GRAMMAR_MAX_CHARS` is dropped (llama.cpp cannot hold it).

    For the grammar only: a grammar-held model cannot write past a bound, so no answer runs
    to the output limit inside one string. What comes back is validated against the
    schema the caller gave, unchanged."""

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if node.get("maxLength", 0) > GRAMMAR_MAX_CHARS:
            del node["maxLength"]
        elif kind == "string" and not any(k in node for k in _STRING_BOUNDS):
            node["maxLength"] = max_chars
        if kind == "array" and "maxItems" not in node and "prefixItems" not in node:
            node["maxItems"] = max_items
        for key in _SUBSCHEMAS:
            visit(node.get(key))
        for key in _SCHEMA_LISTS:
            for sub in node.get(key) or ():
                visit(sub)
        for key in _SCHEMA_MAPS:
            for sub in (node.get(key) or {}).values():
                visit(sub)

    bounded = copy.deepcopy(schema)
    visit(bounded)
    return bounded


def schema_grammar(schema: dict[str, Any]) -> Any:
    """A llama.cpp grammar that admits exactly the JSON ``schema`` describes, with the
    open strings and lists bounded (:func:`bounded_schema`).

    Raises :class:`LLMError` when llama.cpp cannot express the schema (llama-cpp-python
    would otherwise fall back to any JSON, silently)."""
    _llama_cpp()
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    try:
        rules = json_schema_to_gbnf(json.dumps(bounded_schema(schema))).splitlines()
        rules = [JSON_CHAR_RULE if rule.startswith("char ::= ") else rule for rule in rules]
        return LlamaGrammar.from_string("\n".join(rules), verbose=False)
    except Exception as e:
        raise LLMError(
            f"llama.cpp cannot turn this JSON schema into a grammar: {e}",
            hint="simplify the schema (a bug in podpost: please report it)",
        ) from e


class _Models:
    """``sdk.models``: ``list()`` gives the one model this process serves."""

    def __init__(self, name: str) -> None:
        self._name = name

    def list(self) -> Sequence[Any]:
        """The served model as the SDK's ``Model`` type."""
        from openai.types import Model

        return [Model(id=self._name, created=0, object="model", owned_by="podpost")]


class _Chat:
    def __init__(self, completions: LocalSDK) -> None:
        self.completions = completions


class LocalSDK:
    """The two calls :class:`OpenAIClient` makes of ``openai.OpenAI``, answered by llama.cpp.

    ``llama`` is a loaded ``llama_cpp.Llama`` (or any object with its
    ``create_chat_completion``); ``name`` the model name ``models.list()`` reports;
    ``grammar`` makes a grammar of a JSON schema (:func:`schema_grammar`). One
    request at a time (a lock): a model in one process has one context. ``requests``
    counts the requests answered, ``grammar_requests`` those whose answer was held to a
    JSON schema by a grammar.
    """

    def __init__(
        self, llama: Any, name: str, *, grammar: Callable[[dict[str, Any]], Any] | None = None
    ) -> None:
        self._llama = llama
        self._make_grammar = grammar or schema_grammar
        # Gemma's prompt format has no system turn (llama-cpp-python drops it): Gemma's own
        # templates put the system text at the top of the first user turn, and so does this
        self._fold_system = getattr(llama, "chat_format", None) == "gemma"
        self._lock = threading.Lock()
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self.chat = _Chat(self)
        self.models = _Models(name)
        self.requests = 0
        self.grammar_requests = 0
        self.seconds = 0.0

    def _grammar(self, response_format: dict[str, Any] | None) -> Any:
        if not response_format or response_format.get("type") == "text":
            return None
        if response_format.get("type") == "json_schema":
            schema = response_format["json_schema"]["schema"]
        else:  # json_object: any JSON object
            schema = {"type": "object"}
        key = json.dumps(schema, sort_keys=True)
        if key in self._grammars:
            self._grammars.move_to_end(key)
        else:
            self._grammars[key] = self._make_grammar(schema)
            while len(self._grammars) > GRAMMAR_CACHE:
                self._grammars.popitem(last=False)
        return self._grammars[key]

    def create(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Any:
        """One chat completion as the SDK's ``ChatCompletion``; the arguments are the
        SDK's. A prompt over the context raises :class:`LLMTruncatedError`."""
        from openai.types.chat import ChatCompletion

        with self._lock:
            grammar = self._grammar(response_format)
            started = time.monotonic()
            try:
                answer = self._llama.create_chat_completion(
                    messages=_fold_system(messages) if self._fold_system else messages,
                    temperature=0.2 if temperature is None else temperature,
                    max_tokens=max_tokens,
                    grammar=grammar,
                    seed=0,
                )
            except ValueError as e:  # llama-cpp-python: "Requested tokens (n) exceed context"
                if "context" in str(e):
                    raise LLMTruncatedError(
                        f"the request is too long for the local model ({e})",
                        hint="lower [editorial] chunk_max_tokens or raise [llm] context_tokens",
                    ) from e
                raise LLMError(f"the local model failed: {e}") from e
            self.seconds += time.monotonic() - started
            self.requests += 1
            self.grammar_requests += grammar is not None
        answer["model"] = model
        return ChatCompletion.model_validate(answer)


def _fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """``messages`` with the system messages' text put before the first user message's."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    for message in rest:
        if system and message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            break
    return rest


def _llama_cpp() -> Any:
    """The ``llama_cpp`` module, imported with OpenMP's idle threads sleeping.

    llama.cpp's CPU build runs its threads under OpenMP, whose threads spin while waiting
    by default. On a machine with other work (a test suite, a second process) a spinning
    thread takes the core the one it waits for needs: 2 threads gave 1.3 to 2.8 tokens/s
    where 1 thread gave 15 (BENCHMARKS.md, "Local model"). ``OMP_WAIT_POLICY=PASSIVE``,
    read by OpenMP when llama.cpp's library loads, makes them sleep; a value the user set
    is kept. This sets the variable for the library; podpost's own settings still come
    from :mod:`pipeline.config` only."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    return llama_cpp


class GrammarSampling:
    """The sampler step :func:`load_llama`'s model puts before llama.cpp's grammar step.

    llama.cpp's grammar sampler checks each candidate token's text against the grammar,
    and llama-cpp-python hands it the whole vocabulary at every step: with Gemma 3's 262k
    tokens that cost more than the model itself (4.5 tokens/s against 13 without a grammar,
    BENCHMARKS.md). This step lets the grammar judge the ``top_k`` likeliest tokens first
    and, when one of them fits, passes on only those (the ones that do not fit at -inf);
    when none fits, the whole vocabulary goes on to the grammar step as before. The token
    chosen is one the grammar allows either way, and greedy decoding picks the same token
    as with the whole vocabulary (the likeliest allowed token is among the ``top_k`` when
    any allowed token is). ``steps`` counts ``[narrowed, full]`` steps (shared, a list)."""

    def __init__(self, steps: list[int], top_k: int = GRAMMAR_TOP_K) -> None:
        self.grammar: Any = None  # the chain's llama.cpp grammar sampler (a pointer)
        self.top_k = top_k
        self.steps = steps

    def __call__(self, cur_p: Any) -> None:
        """Narrow ``cur_p`` (a ``llama_token_data_array`` pointer) in place."""
        import numpy as np

        lib = _llama_cpp()
        candidates = cur_p.contents
        size, k = int(candidates.size), self.top_k
        if size <= k:
            return
        address = ctypes.addressof(candidates.data.contents)
        data = np.ctypeslib.as_array((lib.llama_token_data * size).from_address(address))
        top = np.ascontiguousarray(data[np.argpartition(data["logit"], size - k)[size - k :]])
        narrow = lib.llama_token_data_array(
            data=top.ctypes.data_as(ctypes.POINTER(lib.llama_token_data)),
            size=k,
            selected=-1,
            sorted=False,
        )
        lib.llama_sampler_apply(self.grammar, ctypes.byref(narrow))
        if not np.isfinite(top["logit"]).any():
            self.steps[1] += 1
            return
        data[:k] = top
        candidates.size = k
        candidates.sorted = False
        self.steps[0] += 1


def _grammar_llama_class() -> type:
    """``llama_cpp.Llama`` whose sampling under a grammar starts with
    :class:`GrammarSampling`; made once, on first use (it imports llama.cpp)."""
    global _GRAMMAR_LLAMA
    if _GRAMMAR_LLAMA is not None:
        return _GRAMMAR_LLAMA
    lib = _llama_cpp()
    from llama_cpp import Llama
    from llama_cpp._internals import LlamaSampler

    class GrammarLlama(Llama):
        """``Llama`` with :class:`GrammarSampling` before its grammar step;
        ``grammar_steps`` counts the steps of every answer so far, ``[narrowed, full]``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.grammar_steps = [0, 0]

        def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
            grammar = kwargs.get("grammar")
            if grammar is None or kwargs.get("logits_processor") is not None:
                return super()._init_sampler(*args, **kwargs)
            rest = super()._init_sampler(*args, **{**kwargs, "grammar": None})
            chain = LlamaSampler()  # the narrowing step, the grammar, the usual samplers
            step = GrammarSampling(self.grammar_steps)
            chain.add_custom(step)
            step.grammar = lib.llama_sampler_init_grammar(
                self._model.vocab, grammar._grammar.encode(), grammar._root.encode()
            )
            if not step.grammar:  # llama-cpp-python would add the NULL, and crash
                chain.close()
                raise LLMError(
                    "llama.cpp cannot parse the grammar of this JSON schema",
                    hint="a bug in podpost: please report it",
                )
            lib.llama_sampler_chain_add(chain.sampler, step.grammar)
            while lib.llama_sampler_chain_n(rest.sampler) > 0:
                moved = lib.llama_sampler_chain_remove(rest.sampler, 0)
                lib.llama_sampler_chain_add(chain.sampler, moved)
            rest.close()
            return chain

    _GRAMMAR_LLAMA = GrammarLlama
    return GrammarLlama


_GRAMMAR_LLAMA: type | None = None


def load_llama(path: Path, config: LLMConfig) -> Any:
    """The model in the file at ``path`` (a ``llama_cpp.Llama`` sampling grammars through
    :class:`GrammarSampling`): threads and context from the machine (:func:`machine_threads`,
    ``[llm] context_tokens``)."""
    try:
        llama_class = _grammar_llama_class()
    except ImportError as e:
        raise MissingDependencyError(
            "llama-cpp-python is not installed; podpost needs it to run a model without an "
            "endpoint",
            hint=INSTALL_HINT,
        ) from e
    threads = machine_threads(config)
    try:
        llama = llama_class(
            model_path=str(path),
            n_ctx=config.context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            seed=0,
            verbose=False,
        )
    except (ValueError, RuntimeError) as e:
        raise LLMError(
            f"llama.cpp cannot load the local model {path}: {e}",
            hint="set [llm] local_model to another GGUF file, or lower [llm] context_tokens",
        ) from e
    metadata = getattr(llama, "metadata", None) or {}
    if "tokenizer.chat_template" not in metadata:
        # A file without a chat template (a base model's): llama-cpp-python would fall back
        # to Llama 2's prompt format; use the family's own where llama-cpp-python has it.
        family = str(metadata.get("general.architecture", "")).rstrip("0123456789")
        if family in KNOWN_CHAT_FORMATS:
            llama.chat_format = family
    return llama


def local_sdk(config: LLMConfig) -> LocalSDK:
    """The model of ``config`` (:func:`ensure_model`), loaded, as a :class:`LocalSDK`."""
    path = ensure_model(config)
    return LocalSDK(load_llama(path, config), config.model)
