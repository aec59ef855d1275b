"""Naming speaker clusters: the LLM's good and bad answers, the heuristic, overrides.

Most cases script the in-process :class:`FakeClient`; the ones about what the real client
does on the wire (malformed JSON, statuses, an unreachable endpoint) use the fake server."""

from __future__ import annotations

import json
import socket

import pytest

from pipeline.config import LLMConfig, TurnsConfig
from pipeline.errors import LLMError
from pipeline.llm import OpenAIClient
from pipeline.models import Episode, Speaker, Turn
from pipeline.testing.fakeclient import FakeClient
from pipeline.testing.fakellm import FakeLLM, FakeReply
from pipeline.turns.evidence import candidates_from, gather_evidence, names_in
from pipeline.turns.naming import (
    TASK,
    SpeakerNames,
    apply_names,
    check_mapping,
    name_speakers,
    naming_schema,
)

EPISODE = Episode(
    id="local-test",
    source="x",
    kind="local",
    url="file:///x",
    title="Why baselines win, with Tomas Okafor",
    show="The Long Run with Maya Lindqvist",
    uploader="The Long Run",
    description="Maya Lindqvist talks with Tomas Okafor about experiments at Open Source labs.",
)

LINES = [
    ("S0", "Welcome to the show. Today my guest is Tomas Okafor. How did you start?"),
    ("S1", "Thanks for having me. It started with a side project at university."),
    ("S0", "What went wrong first?"),
    ("S1", "Nobody wrote down what success means. That was the real problem."),
    ("S0", "And what comes next, Tomas?"),
    ("S1", "Cheaper systems. Honestly, that is what excites me now."),
]


def _turns(lines=LINES) -> list[Turn]:
    return [
        Turn(id=i + 1, speaker=label, start=5.0 * i, end=5.0 * i + 4.0, text=text)
        for i, (label, text) in enumerate(lines)
    ]


def _answer(**names: str) -> dict:
    return {"speakers": [{"cluster": k, "name": v} for k, v in names.items()]}


def _named(speakers: list[Speaker]) -> list[tuple[str, str, bool, str]]:
    return [(s.label, s.name, s.known, s.source) for s in speakers]


@pytest.fixture
def client(llm_config) -> OpenAIClient:
    return OpenAIClient(llm_config, sleep=lambda _: None)


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


def _asked(call) -> str:
    return call.messages[-1]["content"]


HEURISTIC = [
    ("S0", "Maya Lindqvist", True, "heuristic"),
    ("S1", "Tomas Okafor", True, "heuristic"),
]
FROM_LLM = [("S0", "Maya Lindqvist", True, "llm"), ("S1", "Tomas Okafor", True, "llm")]


def test_candidates_come_from_the_show_and_the_title():
    candidates = candidates_from(EPISODE)
    assert candidates.hosts == ["Maya Lindqvist"]
    assert candidates.guests == ["Tomas Okafor"]  # "Open Source" is not a person
    assert names_in("Pavel Izmailov on Open Source AI at Hugging Face") == [
        "Pavel Izmailov",
        "Hugging Face",
    ]


def test_names_in_titles_lose_show_words_and_hosts_are_not_guests():
    title = "Sam Altman: OpenAI, GPT-5 and AGI | Lex Fridman Podcast #419"
    assert names_in(title) == ["Sam Altman", "Lex Fridman"]
    episode = EPISODE.model_copy(update={"title": title, "uploader": "Lex Fridman", "show": ""})
    candidates = candidates_from(episode)
    assert (candidates.hosts, candidates.guests[0]) == (["Lex Fridman"], "Sam Altman")


def test_lowercase_words_are_not_mentions_of_names():
    turns = _turns([("S0", "I will ask you now."), ("S1", "Thanks, Will. It is a mark of trust.")])
    host, guest = gather_evidence(turns, ["Will Smith", "Mark Jones"])
    assert host.mentions == {} and guest.mentions == {"Will Smith": 1}


def test_evidence_is_compact_and_telling():
    evidence = gather_evidence(_turns(), ["Maya Lindqvist", "Tomas Okafor"])
    host, guest = evidence
    assert (host.label, host.turns, round(host.question_share, 2)) == ("S0", 3, 0.6)
    assert host.talk_share == pytest.approx(0.5)
    assert guest.addressed_as == {"Tomas Okafor": 2}
    assert guest.question_share == 0.0
    assert host.first_lines == [LINES[0][1], LINES[2][1]]


def test_a_good_mapping_is_used_in_canonical_spelling(fake: FakeClient):
    # The model misspells the guest (as a transcript might); the metadata's spelling wins.
    fake.enqueue(_answer(S0="maya lindqvist", S1="Tomas Okafur"))
    speakers = name_speakers(_turns(), EPISODE, TurnsConfig(), fake)
    assert _named(speakers) == FROM_LLM
    [call] = fake.history
    assert (call.task, call.temperature) == (TASK, 0.0)
    asked = json.loads(_asked(call))
    assert asked["candidates"]["hosts"] == ["Maya Lindqvist"]
    assert asked["candidates"]["guests"] == ["Tomas Okafor"]
    assert [c["cluster"] for c in asked["clusters"]] == ["S0", "S1"]


def _naming_item(label: str, names: list[str]) -> dict:
    return {
        "type": "object",
        "title": "ClusterName",
        "description": "One line of the model's answer: a cluster label and the name it gives it.",
        "properties": {
            "cluster": {"type": "string", "const": label},
            "name": {
                "type": "string",
                "description": "a candidate name exactly as listed, or 'unknown'",
                "enum": names,
            },
        },
        "required": ["cluster", "name"],
    }


def test_each_request_gets_a_schema_of_its_clusters_and_candidates(fake: FakeClient):
    fake.enqueue(_answer(S0="Maya Lindqvist", S1="Tomas Okafor"))
    name_speakers(_turns(), EPISODE, TurnsConfig(), fake)
    [call] = fake.history
    names = ["Maya Lindqvist", "Tomas Okafor"]
    assert call.schema is naming_schema(("S0", "S1"), tuple(names))
    speakers = call.schema.model_json_schema()["properties"]["speakers"]
    # each cluster sent once, in order, under its own label; no other cluster, no more items
    assert (speakers["minItems"], speakers["maxItems"], speakers["items"]) == (2, 2, False)
    assert speakers["prefixItems"] == [
        _naming_item("S0", [*names, "unknown"]),
        _naming_item("S1", [*names, "unknown"]),
    ]


def test_a_partial_override_leaves_one_cluster_in_the_schema(fake: FakeClient):
    fake.enqueue(_answer(S1="Tomas Okafor"))
    name_speakers(_turns(), EPISODE, TurnsConfig(speaker_map={"S0": "Maya Lindqvist"}), fake)
    speakers = fake.history[0].schema.model_json_schema()["properties"]["speakers"]
    assert (speakers["minItems"], speakers["maxItems"]) == (1, 1)
    # the name the override took is no choice any more
    assert speakers["prefixItems"] == [_naming_item("S1", ["Tomas Okafor", "unknown"])]


def test_the_naming_schema_bounds_the_answer_not_its_validation():
    schema = naming_schema(("S0", "S1"), ("Maya Lindqvist",))
    assert naming_schema(("S0", "S1"), ("Maya Lindqvist",)) is schema  # one per request kind
    assert naming_schema((), ()) is SpeakerNames
    # no candidate left: "unknown" is the one name the checks would accept
    alone = naming_schema(("S0",), ()).model_json_schema()["properties"]["speakers"]
    assert alone["prefixItems"] == [_naming_item("S0", ["unknown"])]
    # An endpoint that ignores the schema: the answer still parses, the checks refuse it.
    off = schema.model_validate(_answer(S0="Maya Lindqvist", S7="Oprah Winfrey"))
    assert isinstance(off, SpeakerNames) and len(off.speakers) == 2
    mapping, problems = check_mapping(off, ["S0", "S1"], ["Maya Lindqvist"])
    assert mapping == {"S0": "Maya Lindqvist"}
    assert problems == ["cluster 'S7' does not exist (clusters: S0, S1)"]


def test_a_duplicate_name_is_asked_again_once(fake: FakeClient):
    fake.enqueue(
        _answer(S0="Tomas Okafor", S1="Tomas Okafor"),
        _answer(S0="Maya Lindqvist", S1="Tomas Okafor"),
    )
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), fake)) == FROM_LLM
    assert "'Tomas Okafor' is given to 2 clusters" in _asked(fake.history[1])


def test_a_duplicate_name_twice_falls_back_to_the_heuristic(fake: FakeClient):
    bad = _answer(S0="Tomas Okafor", S1="Tomas Okafor")
    fake.enqueue(bad, bad)
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), fake)) == HEURISTIC
    assert len(fake.history) == 2


def test_an_unknown_cluster_is_rejected(fake: FakeClient):
    bad = _answer(S0="Maya Lindqvist", S7="Tomas Okafor")
    fake.enqueue(bad, bad)
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), fake)) == HEURISTIC
    assert "cluster 'S7' does not exist" in _asked(fake.history[1])


def test_a_name_that_is_not_a_candidate_is_rejected(fake: FakeClient):
    fake.enqueue(
        _answer(S0="Oprah Winfrey", S1="Tomas Okafor"),
        _answer(S0="Maya Lindqvist", S1="unknown"),
    )
    speakers = name_speakers(_turns(), EPISODE, TurnsConfig(), fake)
    # "unknown" is a valid answer: that cluster becomes a flagged placeholder.
    assert _named(speakers) == [
        ("S0", "Maya Lindqvist", True, "llm"),
        ("S1", "Speaker 2", False, "placeholder"),
    ]


def test_malformed_json_ends_in_the_heuristic(fake_llm: FakeLLM, client):
    fake_llm.push(FakeReply.malformed(), FakeReply.malformed(), task=TASK)
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), client)) == HEURISTIC


def test_malformed_json_once_is_repaired_by_asking_again(fake_llm: FakeLLM, client):
    fake_llm.push(
        FakeReply(content="Sure! Here are the names: S0 is Maya"),
        FakeReply(answer=_answer(S0="Maya Lindqvist", S1="Tomas Okafor")),
        task=TASK,
    )
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), client)) == FROM_LLM


# --- could not name them (heuristic) versus unusable (the error goes up) -------------------


@pytest.mark.parametrize(
    "answer",
    [FakeReply.truncated(), FakeReply.refused(), "no JSON at all"],
    ids=["truncated", "refused", "not-json"],
)
def test_an_answer_that_cannot_be_used_means_the_heuristic(fake: FakeClient, answer):
    fake.enqueue(answer)
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), fake)) == HEURISTIC
    assert len(fake.history) == 1 and fake.pending == 0


def test_an_unusable_llm_is_an_error_not_a_heuristic_result(fake: FakeClient):
    fake.enqueue(FakeReply.unauthorized())
    with pytest.raises(LLMError, match="401") as info:
        name_speakers(_turns(), EPISODE, TurnsConfig(), fake)
    assert (type(info.value), info.value.exit_code, info.value.retryable) == (LLMError, 6, False)


def test_server_errors_after_every_retry_propagate_as_retryable(fake_llm: FakeLLM, client):
    fake_llm.push(*[FakeReply.server_error() for _ in range(4)], task=TASK)
    with pytest.raises(LLMError, match="kept failing") as info:
        name_speakers(_turns(), EPISODE, TurnsConfig(), client)
    assert info.value.retryable is True
    assert [r["status"] for r in fake_llm.requests(task=TASK)] == [500] * 4


def test_an_unknown_model_propagates(fake_llm: FakeLLM, client):
    fake_llm.models = {"another-model"}
    with pytest.raises(LLMError, match="does not know model 'fake-model'"):
        name_speakers(_turns(), EPISODE, TurnsConfig(), client)


def test_an_unreachable_endpoint_propagates(llm_config):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = llm_config.model_copy(update={"base_url": f"http://127.0.0.1:{port}/v1"})
    with pytest.raises(LLMError, match="cannot reach the LLM endpoint"):
        name_speakers(_turns(), EPISODE, TurnsConfig(), OpenAIClient(config))


def test_a_rejected_key_names_nobody_and_the_fixed_key_gets_the_llm_names(fake_llm: FakeLLM):
    fake_llm.api_key = "right-key"
    base = LLMConfig(base_url=fake_llm.base_url, api_key="wrong-key", model="fake-model")  # type: ignore[attr-defined]
    with pytest.raises(LLMError, match="rejected the API key"):
        name_speakers(_turns(), EPISODE, TurnsConfig(), OpenAIClient(base))
    fixed = OpenAIClient(base.model_copy(update={"api_key": "right-key"}))
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), fixed)) == FROM_LLM
    assert [r["status"] for r in fake_llm.requests(task=TASK)] == [401, 200]


def test_the_unscripted_fake_names_in_one_request(fake_llm, client):
    # An offline run against `python -m pipeline.testing.fakellm` gets a complete mapping at once.
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig(), client)) == FROM_LLM
    assert len(fake_llm.requests(task=TASK)) == 1


def test_the_override_beats_the_llm(fake: FakeClient):
    fake.enqueue(_answer(S0="Tomas Okafor", S1="Maya Lindqvist"))
    config = TurnsConfig(speakers=["Maya Lindqvist", "Tomas Okafor"])
    speakers = name_speakers(_turns(), EPISODE, config, fake)
    assert _named(speakers) == [
        ("S0", "Maya Lindqvist", True, "override"),
        ("S1", "Tomas Okafor", True, "override"),
    ]
    assert fake.history == [] and fake.pending == 1


def test_a_partial_override_leaves_the_rest_to_the_llm(fake: FakeClient):
    fake.enqueue(_answer(S1="Tomas Okafor"))
    config = TurnsConfig(speaker_map={"S0": "Maya L."})
    speakers = name_speakers(_turns(), EPISODE, config, fake)
    assert _named(speakers) == [
        ("S0", "Maya L.", True, "override"),
        ("S1", "Tomas Okafor", True, "llm"),
    ]
    asked = fake.history[0].header
    assert asked["answer_for"] == ["S1"] and asked["already_named"] == {"S0": "Maya L."}


def test_without_a_client_the_heuristic_names():
    assert _named(name_speakers(_turns(), EPISODE, TurnsConfig())) == HEURISTIC


def test_self_introductions_fix_misspellings_and_unknowns_are_placeholders():
    lines = [
        ("S0", "Hello, I'm Tomas Okafur, and this is a short chat."),
        ("S1", "Nice to meet you. Shall we start?"),
        ("S2", "I have a question too. What about costs?"),
    ]
    speakers = name_speakers(_turns(lines), EPISODE, TurnsConfig())
    # S0 introduced himself (misspelt by the transcript); S1/S2: the host asks the most
    # questions, but two clusters ask equally; S1 gets the host by speaking first.
    assert _named(speakers) == [
        ("S0", "Tomas Okafor", True, "heuristic"),
        ("S1", "Maya Lindqvist", True, "heuristic"),
        ("S2", "Speaker 3", False, "placeholder"),
    ]


def test_no_metadata_and_no_evidence_means_placeholders():
    bare = Episode(id="local-x", source="x", kind="local", url="file:///x")
    assert _named(name_speakers(_turns(), bare, TurnsConfig())) == [
        ("S0", "Speaker 1", False, "placeholder"),
        ("S1", "Speaker 2", False, "placeholder"),
    ]


def test_apply_names_merges_only_clusters_given_one_name():
    turns = _turns([("S0", "One."), ("S1", "Two."), ("S2", "Three."), ("S2", "Four.")])
    speakers = [
        Speaker(label="S0", name="Ann Lee", known=True, source="override"),
        Speaker(label="S1", name="Bo Chen", known=True, source="override"),
        Speaker(label="S2", name="Bo Chen", known=True, source="override"),
    ]
    named = apply_names(turns, speakers, max_chars=2500)
    assert [(t.id, t.speaker, t.text, t.start, t.end) for t in named] == [
        (1, "Ann Lee", "One.", 0.0, 4.0),
        (2, "Bo Chen", "Two. Three.", 5.0, 14.0),
        (3, "Bo Chen", "Four.", 15.0, 19.0),
    ]


@pytest.mark.slow
def test_the_whole_step_names_speakers_through_the_llm(interview3, fake_llm: FakeLLM, client):
    from pipeline.config import Config
    from pipeline.testing.fakellm import FakeRequest
    from pipeline.turns.step import build_turns

    def answer(request: FakeRequest) -> dict:
        # A model that reads the evidence: the one who introduces herself is the host, the
        # guests are told apart by who is addressed... which these interviews never do.
        asked = json.loads(request.user_text)
        names = {}
        for cluster in asked["clusters"]:
            intro = " ".join(cluster["self_introductions"])
            host = next((h for h in asked["candidates"]["hosts"] if h in intro), None)
            names[cluster["cluster"]] = host or "unknown"
        return _answer(**names)

    fake_llm.handle(TASK, answer)
    # three voices said: GE2E hears two of these espeak-ng voices as one when it has to
    # guess the count (docs/diarization.md); naming is what this test is about
    config = Config(diarize={"num_speakers": 3})
    result = build_turns(
        interview3.episode,
        interview3.transcript,
        config,
        audio_path=interview3.audio,
        client=client,
    )
    assert [(s.label, s.name, s.known, s.source) for s in result.speakers] == [
        ("S0", "Maya Lindqvist", True, "llm"),
        ("S1", "Speaker 2", False, "placeholder"),
        ("S2", "Speaker 3", False, "placeholder"),
    ]
    assert [t.speaker for t in result.turns][:4] == [
        "Maya Lindqvist",
        "Speaker 2",
        "Maya Lindqvist",
        "Speaker 3",
    ]
    [request] = fake_llm.requests(task=TASK)
    asked = json.loads(request["messages"][-1]["content"])
    assert asked["candidates"]["guests"] == ["Tomas Okafor", "Priya Raman"]
    assert asked["clusters"][0]["self_introductions"] == [
        "Welcome to the show, I am Maya Lindqvist."
    ]


def test_override_names_must_be_plain():
    from pipeline.errors import UsageError

    with pytest.raises(UsageError, match="contains '\\*'") as info:
        name_speakers(_turns(), EPISODE, TurnsConfig(speakers=["**Maya**", "Tomas"]))
    assert info.value.exit_code == 2
