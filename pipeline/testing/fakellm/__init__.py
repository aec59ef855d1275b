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

The package's modules: :mod:`.core` (replies, requests, the scriptable state),
:mod:`.answers` (the podpost-specific default answers), :mod:`.server` (HTTP) and
``__main__`` (the command above). Unit tests that need no HTTP use
:class:`pipeline.testing.fakeclient.FakeClient`, which answers from the same state in-process.
"""

from __future__ import annotations

from pipeline.testing.fakellm.answers import DEFAULTS, Answer, from_schema
from pipeline.testing.fakellm.core import FakeLLM, FakeReply, FakeRequest, err_body
from pipeline.testing.fakellm.server import FakeServer

__all__ = [
    "DEFAULTS",
    "Answer",
    "FakeLLM",
    "FakeReply",
    "FakeRequest",
    "FakeServer",
    "err_body",
    "from_schema",
]
