"""The in-process fake client: queued answers by task, history, defaults, faults, usage."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from pipeline.errors import LLMError, LLMOutputError, LLMRefusalError, LLMTruncatedError
from pipeline.llm import LLMClient, Usage
from pipeline.testing.fakeclient import FakeClient
from pipeline.testing.fakellm import FakeReply


class Names(BaseModel):
    names: list[str]


MESSAGES = [{"role": "system", "content": "Name them."}, {"role": "user", "content": "hi"}]


def test_queued_answers_are_used_in_order_and_kept_in_history():
    client = FakeClient()
    client.enqueue({"names": ["Ada"]}, Names(names=["Grace"]))
    first = client.complete_json(MESSAGES, Names, task="names", temperature=0.0)
    second = client.complete_json(MESSAGES, Names, task="names", max_tokens=50)
    assert (first.value, second.value) == (Names(names=["Ada"]), Names(names=["Grace"]))
    assert first.raw == '{"names": ["Ada"]}' and first.mode == "json_schema"
    assert [
        (c.task, c.messages, c.schema, c.temperature, c.max_tokens) for c in client.history
    ] == [
        ("names", MESSAGES, Names, 0.0, None),
        ("names", MESSAGES, Names, None, 50),
    ]
    assert client.history[0].raw == first.raw


def test_an_answer_queued_for_a_task_waits_for_that_task():
    client = FakeClient()
    client.enqueue({"names": ["Ada"]}, task="later")
    unscripted = client.complete_json(MESSAGES, Names, task="now")
    assert unscripted.value == Names(names=[])  # built from the schema: an empty list
    assert client.pending == 1
    assert client.complete_json(MESSAGES, Names, task="later").value.names == ["Ada"]


def test_raw_text_is_repaired_like_the_real_client_does():
    client = FakeClient()
    client.enqueue('<think>hmm</think>```json\n{"names": ["Ada", "Grace"\n```')
    assert client.complete_json(MESSAGES, Names, task="t").value.names == ["Ada", "Grace"]


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        ("no JSON here", LLMOutputError, "the t answer is not valid: no JSON object"),
        ({"nom": 1}, LLMOutputError, "names: Field required"),
        (FakeReply.truncated(), LLMTruncatedError, "cut off"),
        (FakeReply.refused(), LLMRefusalError, "refused"),
    ],
    ids=["prose", "wrong-shape", "truncated", "refused"],
)
def test_unusable_answers_raise_output_errors_with_their_usage(answer, error, message):
    client = FakeClient()
    client.enqueue(answer)
    with pytest.raises(error, match=message) as info:
        client.complete_json(MESSAGES, Names, task="t")
    assert type(info.value) is error
    assert info.value.usage.requests == 1 and info.value.usage.prompt_tokens > 0


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        (FakeReply.unauthorized(), False),
        (FakeReply.rate_limited(), True),
        (FakeReply.server_error(503), True),
        (FakeReply.dropped(), True),
    ],
    ids=["401", "429", "503", "dropped"],
)
def test_statuses_raise_llm_errors_retryable_as_the_client_would(reply, retryable):
    client = FakeClient()
    client.enqueue(reply)
    with pytest.raises(LLMError) as info:
        client.complete_json(MESSAGES, Names, task="t")
    assert type(info.value) is LLMError and info.value.retryable is retryable
    assert len(client.history) == 1


def test_a_queued_exception_is_raised_as_is():
    client = FakeClient()
    error = LLMError("no way", hint="fix it")
    client.enqueue(error)
    with pytest.raises(LLMError) as info:
        client.complete_json(MESSAGES, Names, task="t")
    assert info.value is error


def test_handlers_answer_unqueued_calls_and_usage_adds_up():
    client = FakeClient(model="m1")
    client.handle("names", lambda request: {"names": [request.task, request.user_text]})
    reply = client.complete_json(MESSAGES, Names, task="names")
    assert reply.value.names == ["names", "hi"]
    again = client.complete_json(MESSAGES, Names, task="names")
    assert client.usage() == reply.usage + again.usage
    assert client.usage().requests == 2 and client.model == "m1"


def test_it_is_an_llm_client():
    client: LLMClient = FakeClient()  # the protocol stages are typed against
    assert isinstance(client.model, str)
    assert Usage() == FakeClient().usage()
