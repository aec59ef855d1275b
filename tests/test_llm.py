"""The LLM client against the fake server: structured output, retries, failures, usage."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
from pydantic import BaseModel

from pipeline.config import LLMConfig
from pipeline.errors import (
    LLMError,
    LLMOutputError,
    LLMRefusalError,
    LLMTruncatedError,
    UnknownBackendError,
)
from pipeline.llm import (
    OpenAIClient,
    Usage,
    make_client,
    parse_json_text,
    strip_reasoning,
)
from pipeline.testing.fakellm import FakeReply


class Names(BaseModel):
    names: list[str]


MESSAGES = [{"role": "system", "content": "Name them."}, {"role": "user", "content": "hi"}]


def names_handler(request):
    return {"names": ["Ada", "Grace"]}


@pytest.fixture
def waits():
    return []


@pytest.fixture
def client(llm_config, waits):
    return OpenAIClient(llm_config, sleep=waits.append)


def test_structured_answer_usage_and_task_header(fake_llm, client):
    fake_llm.handle("names", names_handler)
    reply = client.complete_json(MESSAGES, Names, task="names")
    assert reply.value == Names(names=["Ada", "Grace"])
    assert reply.mode == "json_schema"
    log = fake_llm.requests()
    assert [(e["task"], e["response_format"], e["status"]) for e in log] == [
        ("names", "json_schema", 200)
    ]
    assert reply.usage == Usage(log[0]["prompt_tokens"], log[0]["completion_tokens"], 1)
    assert client.usage() == reply.usage
    assert log[0]["model"] == "fake-model"


def test_429_honours_retry_after_then_succeeds(fake_llm, client, waits):
    fake_llm.handle("names", names_handler)
    fake_llm.push(FakeReply.rate_limited(retry_after=7))
    reply = client.complete_json(MESSAGES, Names, task="names")
    assert reply.value.names == ["Ada", "Grace"]
    assert waits == [0.05]  # Retry-After 7 s, capped by retry_max_wait in the test config
    assert [e["status"] for e in fake_llm.requests()] == [429, 200]
    assert reply.usage.requests == 2


def test_retry_after_is_used_as_given_below_the_cap(fake_llm, llm_config, waits):
    config = llm_config.model_copy(update={"retry_max_wait": 60.0})
    fake_llm.handle("names", names_handler)
    fake_llm.push(FakeReply.rate_limited(retry_after=0))
    OpenAIClient(config, sleep=waits.append).complete_json(MESSAGES, Names, task="names")
    assert waits == [0.0]


def test_500_twice_then_success_backs_off_exponentially(fake_llm, llm_config, waits):
    config = llm_config.model_copy(update={"retry_initial_wait": 1.0, "retry_max_wait": 60.0})
    fake_llm.handle("names", names_handler)
    fake_llm.push(FakeReply.server_error(), FakeReply.server_error(503))
    reply = OpenAIClient(config, sleep=waits.append).complete_json(MESSAGES, Names, task="names")
    assert reply.value.names == ["Ada", "Grace"]
    assert [e["status"] for e in fake_llm.requests()] == [500, 503, 200]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # doubling, with jitter


def test_5xx_forever_ends_as_transient_error(fake_llm, client):
    fake_llm.push(*[FakeReply.server_error() for _ in range(4)])
    with pytest.raises(LLMError, match="kept failing") as raised:
        client.complete_json(MESSAGES, Names, task="names")
    assert raised.value.retryable is True
    assert len(fake_llm.requests()) == 4  # max_retries=3 -> four attempts


def test_timeout_is_retried(fake_llm, llm_config, waits):
    config = llm_config.model_copy(update={"timeout": 0.3})
    fake_llm.handle("names", names_handler)
    fake_llm.push(FakeReply.slow(1.0))
    reply = OpenAIClient(config, sleep=waits.append).complete_json(MESSAGES, Names, task="names")
    assert reply.value.names == ["Ada", "Grace"]
    assert len(fake_llm.requests()) == 2 and len(waits) == 1


def test_auth_error_fails_fast_with_what_to_set(fake_llm, client):
    fake_llm.push(FakeReply.unauthorized())
    with pytest.raises(LLMError) as caught:
        client.complete_json(MESSAGES, Names, task="names")
    message = caught.value.one_line()
    assert "rejected the API key (401: Incorrect API key provided)" in message
    assert "OPENAI_API_KEY" in message and "http://localhost:11434/v1" in message
    assert caught.value.exit_code == 6
    assert len(fake_llm.requests()) == 1


def test_403_and_unknown_model_are_not_retried(fake_llm, client):
    fake_llm.push(FakeReply(403, error="Project does not have access"))
    with pytest.raises(LLMError, match="refused access"):
        client.complete_json(MESSAGES, Names, task="names")
    fake_llm.models = {"other-model"}
    with pytest.raises(LLMError, match=r"does not know model 'fake-model'.*set \[llm\] model"):
        client.complete_json(MESSAGES, Names, task="names")
    assert [e["status"] for e in fake_llm.requests()] == [403, 404]


def test_missing_key_fails_before_any_request():
    with pytest.raises(LLMError, match=r"no API key.*OPENAI_API_KEY.*localhost:11434"):
        make_client(LLMConfig(base_url="http://127.0.0.1:9/v1"))


def test_unreachable_endpoint_fails_at_once(waits):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key="k")
    with pytest.raises(LLMError, match=f"cannot reach the LLM endpoint http://127.0.0.1:{port}"):
        OpenAIClient(config, sleep=waits.append).complete_json(MESSAGES, Names, task="names")
    assert waits == []


def test_falls_back_to_json_mode_then_text(fake_llm, client):
    fake_llm.handle("names", names_handler)
    fake_llm.formats = {"json_object", "text"}
    assert client.complete_json(MESSAGES, Names, task="names").mode == "json_object"
    fake_llm.formats = {"text"}
    fake_llm.push(
        FakeReply(content='<think>hmm, "names"?</think>\n```json\n{"names": ["Ada",]}\n```')
    )
    reply = client.complete_json(MESSAGES, Names, task="names")
    assert (reply.mode, reply.value.names) == ("text", ["Ada"])
    modes = [e["response_format"] for e in fake_llm.requests()]
    assert modes == ["json_schema", "json_object", "json_object", "text"]
    # the lower rungs carry the schema in the prompt
    system = fake_llm.requests()[-1]["messages"][0]["content"]
    assert system.startswith("Name them.") and '"names"' in system
    assert client.complete_json(MESSAGES, Names, task="names").mode == "text"  # remembered


def test_malformed_json_is_asked_again_once(fake_llm, client):
    fake_llm.handle("names", names_handler)
    fake_llm.push(FakeReply(content="Sure! Here are the names: Ada and Grace."))
    reply = client.complete_json(MESSAGES, Names, task="names")
    assert reply.value.names == ["Ada", "Grace"] and reply.usage.requests == 2
    reask = fake_llm.requests()[1]["messages"]
    assert reask[-2] == {"role": "assistant", "content": "Sure! Here are the names: Ada and Grace."}
    assert reask[-1]["content"].startswith("That reply was not usable: no JSON object")
    fake_llm.push(FakeReply(content="no"), FakeReply(content='{"nom": 1}'))
    with pytest.raises(
        LLMOutputError, match="not valid JSON for its schema: names: Field required"
    ):
        client.complete_json(MESSAGES, Names, task="names")


def test_truncation_and_refusal_raise_their_own_errors(fake_llm, client):
    fake_llm.push(FakeReply.truncated(), FakeReply.refused())
    with pytest.raises(LLMTruncatedError, match="cut off"):
        client.complete_json(MESSAGES, Names, task="names")
    with pytest.raises(LLMRefusalError, match="refused the names request: I'm sorry"):
        client.complete_json(MESSAGES, Names, task="names")


def test_request_log_is_served_as_json(fake_llm, client):
    fake_llm.handle("names", names_handler)
    client.complete_json(MESSAGES, Names, task="names")
    with urllib.request.urlopen(fake_llm.base_url.removesuffix("/v1") + "/_requests") as r:
        log = json.load(r)
    assert [(e["n"], e["task"], e["status"]) for e in log] == [(1, "names", 200)]
    assert log[0]["prompt_tokens"] > 0 and log[0]["completion_tokens"] > 0


def test_unknown_task_default_answer_follows_the_schema(fake_llm, client):
    reply = client.complete_json(MESSAGES, Names, task="something_new")
    assert reply.value == Names(names=[])


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(UnknownBackendError, match=r"set \[llm\] backend to one of: local, openai"):
        make_client(LLMConfig(backend="nope", api_key="k"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('<think>{not this}</think>{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ("Answer: {'a': 1,}", {"a": 1}),
    ],
)
def test_parse_json_text(text, value):
    assert parse_json_text(text, repair=True) == value


def test_unclosed_reasoning_leaves_nothing():
    assert strip_reasoning("<think>still thinking {") == ""


def test_a_dropped_connection_is_retried_once_the_endpoint_has_answered(fake_llm, client):
    fake_llm.handle("names", names_handler)
    fake_llm.push(FakeReply.dropped())
    with pytest.raises(LLMError, match="cannot reach the LLM endpoint"):
        client.complete_json(MESSAGES, Names, task="names")  # never answered: a setup problem
    client.complete_json(MESSAGES, Names, task="names")
    fake_llm.push(FakeReply.dropped())
    assert client.complete_json(MESSAGES, Names, task="names").usage.requests == 2
    assert [e["status"] for e in fake_llm.requests()] == [0, 200, 0, 200]


def test_a_wrong_path_is_not_mistaken_for_an_unknown_model(fake_llm, client):
    fake_llm.push(FakeReply(404, error="no route /chat/completions"))
    with pytest.raises(LLMError, match=r"has no chat completions API.*usually ends in /v1"):
        client.complete_json(MESSAGES, Names, task="names")


def test_a_request_too_long_for_the_context_is_reported_as_truncation(fake_llm, client):
    message = "This model's maximum context length is 8192 tokens."
    fake_llm.push(FakeReply(400, error=message, code="context_length_exceeded"))
    with pytest.raises(LLMTruncatedError, match="too long for model 'fake-model'"):
        client.complete_json(MESSAGES, Names, task="names")
    assert len(fake_llm.requests()) == 1


def test_out_of_quota_429_is_not_retried(fake_llm, client):
    fake_llm.push(
        FakeReply(429, error="You exceeded your current quota", code="insufficient_quota")
    )
    with pytest.raises(LLMError, match="out of quota"):
        client.complete_json(MESSAGES, Names, task="names")
    assert len(fake_llm.requests()) == 1


def test_at_most_max_concurrency_requests_in_flight_whatever_the_threads(fake_llm, llm_config):
    from concurrent.futures import ThreadPoolExecutor

    config = llm_config.model_copy(update={"max_concurrency": 2})
    client = OpenAIClient(config)
    fake_llm.handle("names", lambda request: FakeReply(answer={"names": []}, delay=0.2))
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: client.complete_json(MESSAGES, Names, task="names"), range(6)))
    assert fake_llm.max_in_flight == 2 and client.usage().requests == 6


def test_the_fake_server_runs_by_hand(waits):
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "pipeline.testing.fakellm",
        "--port",
        str(port),
        "--api-key",
        "k",
    ]
    server = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        banner = server.stdout.readline()
        assert banner.startswith(f"fake LLM on http://127.0.0.1:{port}/v1")
        config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", model="m")
        reply = OpenAIClient(config).complete_json(MESSAGES, Names, task="names")
        assert reply.value == Names(names=[])
        with pytest.raises(LLMError, match="401"):
            OpenAIClient(config.model_copy(update={"api_key": "wrong"})).complete_json(
                MESSAGES, Names, task="names"
            )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_requests") as r:
            assert [e["status"] for e in json.load(r)] == [200, 401]
    finally:
        server.terminate()
        server.wait(timeout=10)
