"""The editorial step against the fake LLM: complete, faithful, resilient, cached.

Cases about the wire (statuses, timeouts, the real client's re-ask) talk to the fake server;
cases about what the step does with answers script the in-process FakeClient."""

from __future__ import annotations

import re

import pytest

from pipeline.config import Config, LLMConfig
from pipeline.editorial import build_post
from pipeline.editorial.units import clean_text
from pipeline.errors import LLMError
from pipeline.llm import OpenAIClient
from pipeline.models import FrontMatter, Turn, Turns
from pipeline.post.parse import check_post, parse_post
from pipeline.post.render import render_post
from pipeline.testing.fakeclient import FakeClient
from pipeline.testing.fakellm import FakeReply
from tests.editorial_data import make_episode, make_turns


def config_for(llm_config, tmp_path, **editorial) -> Config:
    return Config(
        data_dir=tmp_path,
        llm=llm_config.model_copy(update=editorial.pop("llm", {})),
        editorial={"chunk_max_tokens": 600, "chunk_min_tokens": 100, **editorial},
    )


def run(llm_config, tmp_path, turns=None, **settings):
    config = config_for(llm_config, tmp_path, **settings)
    client = OpenAIClient(config.llm, sleep=lambda s: None)
    turns = turns or make_turns(12)
    return build_post(make_episode(), turns, config, client, tmp_path / "cache")


def run_in_process(tmp_path, turns=None, client=None, **settings):
    """``run`` with a FakeClient (the fake server's answers, no HTTP); returns the result
    and the client, whose ``history`` is the request log."""
    client = client or FakeClient()
    config = config_for(LLMConfig(model=client.model), tmp_path, **settings)
    turns = turns or make_turns(12)
    return build_post(make_episode(), turns, config, client, tmp_path / "cache"), client


def ids_asked(call) -> list[str]:
    return re.findall(r"^\[([0-9.]+)\] ", call.messages[1]["content"], re.MULTILINE)


def translate_requests(fake):
    return [e for e in fake.requests(task="translate") if e["status"] == 200]


def ids_of(entry) -> list[str]:
    user = entry["messages"][1]["content"]
    return re.findall(r"^\[([0-9.]+)\] ", user, re.MULTILINE)


def strip_bold(text: str) -> str:
    return text.replace("**", "")


def assert_complete_and_faithful(result, turns: Turns) -> None:
    post_turns = result.post.turns
    assert len(post_turns) == len(turns.turns)
    for post_turn, turn in zip(post_turns, turns.turns, strict=True):
        assert post_turn.speaker == turn.speaker
        assert strip_bold(post_turn.original) == clean_text(turn.text)
        assert post_turn.translation, f"turn {turn.id} has no translation"
        # the fake "translates" as 【译】 + the original with glossary terms replaced
        assert post_turn.translation[0].startswith("【译】")
    assert result.failures == []


# --- 1. a whole episode ---------------------------------------------------------------


def test_60_turn_episode_is_complete_faithful_and_well_formed(fake_llm, llm_config, tmp_path):
    turns = make_turns(60)
    long_words = " ".join(f"Sentence {i} is about reasoning models at OpenAI." for i in range(90))
    turns.turns[7] = turns.turns[7].model_copy(update={"text": long_words})
    result = run(llm_config, tmp_path, turns, max_unit_tokens=300, llm={"max_concurrency": 3})
    assert_complete_and_faithful(result, turns)

    # the long turn went out in pieces and came back as one paragraph per piece
    long_turn = result.post.turns[7]
    pieces = sorted({i for e in translate_requests(fake_llm) for i in ids_of(e)
                     if i.startswith("7.")})  # fmt: skip
    assert len(pieces) >= 3 and len(long_turn.translation) == len(pieces)
    assert [p.split(" ", 2)[1] for p in long_turn.translation] == [
        "0" if n == 0 else long_turn.translation[n].split(" ", 2)[1] for n in range(len(pieces))
    ]

    # headings start exactly where the outline says
    outline = [(s.start, s.heading) for s in result.analysis.sections]
    assert outline[0][0] == 0 and len(outline) == 6
    assert [s.heading for s in result.post.sections] == [h for _, h in outline]
    starts, index = [], 0
    for section in result.post.sections:
        starts.append(index)
        index += len(section.turns)
    assert starts == [start for start, _ in outline]  # turn ids are 0..59 here

    # every front matter key, filled from the episode, the analysis and the config
    front = result.post.front.model_dump()
    assert list(front) == list(FrontMatter.model_fields)
    assert front["author"] == front["speaker"] == "The Example Podcast"
    assert front["date"] == "2026-01-15" and front["source"].endswith("v=abc123")
    assert front["title"] == "【译】Reasoning models and superalignment"
    assert front["summary"] and front["tags"] and front["guest"] == "Pavel Izmailov"
    assert (front["category"], front["area"]) == ("ai-ml", "tech-engineering")
    assert front["people"] == ["Matt Turk", "Pavel Izmailov"] and front["draft"] is True

    text = render_post(result.post)
    assert check_post(text) == []
    assert parse_post(text) == result.post
    assert text.count("<summary>Original English</summary>") == 60

    # one analysis request, one per chunk; cost is recorded
    log = fake_llm.requests()
    assert [e["task"] for e in log].count("analysis") == 1
    assert len(translate_requests(fake_llm)) == result.chunks >= 6
    assert result.usage.requests == len(log)
    assert result.usage.prompt_tokens == sum(e["prompt_tokens"] for e in log)
    assert result.usage.completion_tokens == sum(e["completion_tokens"] for e in log)


def test_first_mention_rule_and_bold_in_originals(tmp_path):
    result, _ = run_in_process(tmp_path, make_turns(30))
    glossary = {g.term: g.translation for g in result.analysis.glossary}
    assert "Anthropic" in glossary and glossary["Anthropic"] != "Anthropic"
    text = render_post(result.post)
    for term, translation in glossary.items():
        first = f"**{translation}**（{term}）"
        if translation == term:
            assert f"**{term}**（" not in text  # names are not glossed with themselves
            continue
        assert text.count(first) == 1, term
        assert text.index(first) < text.index(f"**{translation}**（{term}）") + 1
        later = text.split(first, 1)[1]
        assert f"（{term}）" not in later and f"**{translation}**" in later
    # originals bold the term itself; removing ** gives the transcript back (checked above)
    assert "**Anthropic**" in text


# --- 2. faults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "replies",
    [
        [FakeReply.rate_limited(retry_after=1)],
        [FakeReply.server_error(), FakeReply.server_error(502)],
        [FakeReply.malformed()],
        [FakeReply.refused()],
    ],
    ids=["429-then-success", "500-twice-then-success", "malformed-json", "refusal"],
)
def test_transient_and_output_faults_end_well(fake_llm, llm_config, tmp_path, replies):
    fake_llm.push(*replies, task="translate")
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns)
    assert_complete_and_faithful(result, turns)
    assert fake_llm.pending == 0


def test_timeout_ends_well(fake_llm, llm_config, tmp_path):
    fake_llm.push(FakeReply.slow(1.5), task="translate")
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns, llm={"timeout": 0.5})
    assert_complete_and_faithful(result, turns)


def _edit_turns(edit):
    def transform(answer, request):
        answer["turns"] = edit(answer["turns"])
        return answer

    return FakeReply(transform=transform)


def test_missing_ids_are_asked_again_alone(tmp_path):
    fake = FakeClient()
    fake.enqueue(_edit_turns(lambda turns: turns[:1] + turns[3:]), task="translate")
    turns = make_turns(12)
    result, _ = run_in_process(tmp_path, turns, fake, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    first, reask = [c for c in fake.history if c.task == "translate"][:2]
    assert ids_asked(reask) == ids_asked(first)[1:3]
    assert '"problems":{"1":"no translation was returned for id 1"' in reask.messages[1]["content"]


def test_extra_ids_are_ignored_and_noted(fake_llm, llm_config, tmp_path):
    extra = {"id": "999", "source_start": "x", "translation": "【译】多余", "terms": []}
    fake_llm.push(_edit_turns(lambda turns: [*turns, extra]), task="translate")
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    assert len(translate_requests(fake_llm)) == result.chunks  # nothing asked again
    assert "translation: unexpected id '999' ignored" in result.flags


def test_swapped_ids_are_caught_and_repaired(tmp_path):
    def swap(turns):
        turns[1]["id"], turns[2]["id"] = turns[2]["id"], turns[1]["id"]
        return turns

    fake = FakeClient()
    fake.enqueue(_edit_turns(swap), task="translate")
    turns = make_turns(12)
    result, _ = run_in_process(tmp_path, turns, fake, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    for post_turn, turn in zip(result.post.turns, turns.turns, strict=True):
        words = clean_text(turn.text).split()[:2]
        assert strip_bold(post_turn.translation[0]).startswith("【译】" + " ".join(words))
    first, reask = [c for c in fake.history if c.task == "translate"][:2]
    assert ids_asked(reask) == ids_asked(first)[1:3]


def test_untranslated_answer_is_asked_again(fake_llm, llm_config, tmp_path):
    def english(answer, request):
        answer["turns"][0]["translation"] = request.lines[0].text
        return answer

    fake_llm.push(FakeReply(transform=english), task="translate")
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    reask = translate_requests(fake_llm)[1]
    assert "not in the target language zh-CN" in reask["messages"][1]["content"]


def test_truncated_answer_splits_the_chunk(fake_llm, llm_config, tmp_path):
    fake_llm.push(FakeReply.truncated(), task="translate")
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    log = fake_llm.requests(task="translate")
    first, half1, half2 = log[:3]
    assert ids_of(half1) + ids_of(half2) == ids_of(first)
    assert len(ids_of(half1)) == (len(ids_of(first)) + 1) // 2


def test_a_turn_that_always_fails_is_marked_and_retry_failed_fixes_it(
    fake_llm, llm_config, tmp_path
):
    def refuse_turn_5(request):
        if "5" in [line.id for line in request.lines]:
            return FakeReply.refused("I can't translate that.")
        return None

    fake_llm.handle("translate", refuse_turn_5)
    turns = make_turns(12)
    config = config_for(llm_config, tmp_path)
    client = OpenAIClient(config.llm, sleep=lambda s: None)
    result = build_post(make_episode(), turns, config, client, tmp_path / "cache")
    assert [(f.turn_id, f.speaker) for f in result.failures] == [(5, "Pavel Izmailov")]
    assert "I can't translate that." in result.failures[0].reason
    failed_turn = result.post.turns[5]
    assert failed_turn.translation == []
    assert strip_bold(failed_turn.original) == clean_text(turns.turns[5].text)
    assert all(t.translation for i, t in enumerate(result.post.turns) if i != 5)
    text = render_post(result.post)
    assert "**Pavel Izmailov**:\n\n<details>" in text and check_post(text) == []

    # a plain rerun reuses everything, failure included
    before = len(fake_llm.requests())
    again = build_post(make_episode(), turns, config, client, tmp_path / "cache")
    assert len(fake_llm.requests()) == before and len(again.failures) == 1

    # --retry-failed asks for turn 5 only
    fake_llm.handle("translate", lambda request: None)
    fixed = build_post(make_episode(), turns, config, client, tmp_path / "cache",
                       retry_failed=True)  # fmt: skip
    retried = fake_llm.requests()[before:]
    assert [ids_of(e) for e in retried] == [["5"]]
    assert fixed.failures == [] and fixed.post.turns[5].translation
    assert_complete_and_faithful(fixed, turns)


def test_auth_error_fails_fast_with_its_message(fake_llm, llm_config, tmp_path):
    fake_llm.push(FakeReply.unauthorized())
    with pytest.raises(LLMError, match=r"rejected the API key \(401: Incorrect API key"):
        run(llm_config, tmp_path)
    assert len(fake_llm.requests()) == 1


def test_auth_error_mid_translation_stops_the_run(fake_llm, llm_config, tmp_path):
    fake_llm.push(FakeReply.unauthorized(), task="translate")
    with pytest.raises(LLMError, match="401"):
        run(llm_config, tmp_path, llm={"max_concurrency": 1})
    assert [e["status"] for e in fake_llm.requests()] == [200, 401]


# --- 3. cache -------------------------------------------------------------------------


def test_rerun_makes_zero_requests(fake_llm, llm_config, tmp_path):
    first = run(llm_config, tmp_path)
    count = len(fake_llm.requests())
    second = run(llm_config, tmp_path)
    assert len(fake_llm.requests()) == count
    assert render_post(second.post) == render_post(first.post)
    assert second.usage.requests == 0 and second.cached_chunks == second.chunks


def test_changed_input_misses_the_cache_only_where_it_changed(fake_llm, llm_config, tmp_path):
    turns = make_turns(12)
    run(llm_config, tmp_path, turns)
    edited = turns.model_copy(deep=True)
    edited.turns[11] = edited.turns[11].model_copy(
        update={"text": turns.turns[11].text + " Thanks."}
    )
    fake_llm.reset()
    run(llm_config, tmp_path, edited)
    tasks = [e["task"] for e in fake_llm.requests()]
    assert tasks == ["analysis", "translate"]  # the transcript changed; one chunk did


# --- 4. glossary consistency ----------------------------------------------------------


def test_same_glossary_term_same_translation_in_every_chunk(fake_llm, llm_config, tmp_path):
    served = {"count": 0}

    def inconsistent(request):
        answer = request.default()
        glossary = request.header["glossary"]
        served["count"] += 1
        if served["count"] == 2 and "Anthropic" in glossary:  # one chunk goes its own way
            for turn in answer["turns"]:
                turn["translation"] = turn["translation"].replace(glossary["Anthropic"], "安索")
                for term in turn["terms"]:
                    if term["source"].lower() == "anthropic":
                        term["target"] = "安索"
        return answer

    fake_llm.handle("translate", inconsistent)
    turns = make_turns(40)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert result.chunks >= 3
    assert any("must be translated as" in str(e["messages"]) for e in fake_llm.requests())
    for entry in result.analysis.glossary:
        for post_turn, turn in zip(result.post.turns, turns.turns, strict=True):
            if re.search(rf"\b{re.escape(entry.term)}\b", turn.text, re.IGNORECASE):
                assert entry.translation in " ".join(post_turn.translation), entry.term
    assert "安索" not in render_post(result.post)


# --- analysis -------------------------------------------------------------------------


def test_long_transcript_analysis_is_map_reduced(fake_llm, llm_config, tmp_path):
    turns = make_turns(60)
    result = run(llm_config, tmp_path, turns, llm={"context_tokens": 7000})
    tasks = [e["task"] for e in fake_llm.requests()]
    assert tasks.count("analysis") >= 2 and tasks.count("analysis_reduce") == 1
    assert tasks.index("analysis_reduce") == tasks.count("analysis")  # after every part
    reduce_request = fake_llm.requests(task="analysis_reduce")[0]
    assert "[0] Matt Turk" not in reduce_request["messages"][1]["content"]  # no transcript
    starts = [s.start for s in result.analysis.sections]  # every part's sections, in order
    assert starts[0] == 0 and starts == sorted(set(starts)) and len(starts) > 6
    assert_complete_and_faithful(result, turns)


def test_analysis_values_outside_the_config_lists_are_replaced(tmp_path):
    def odd(request):
        answer = request.default()
        answer.update(category="cooking", area="tech-engineering",
                      tags=["Large Language Models", "AI Safety!"])  # fmt: skip
        answer["sections"].append({"start": 999, "heading": "nowhere"})
        return answer

    fake = FakeClient()
    fake.handle("analysis", odd)
    result, _ = run_in_process(tmp_path, client=fake, categories=["science", "ai-ml"])
    front = result.post.front
    assert (front.category, front.area) == ("science", "tech-engineering")
    assert front.tags == ["large-language-models", "ai-safety"]
    assert "category 'cooking' is not in the configured list; used 'science'" in result.flags
    assert any("outline section(s) dropped" in f for f in result.flags)


# --- languages ------------------------------------------------------------------------


def test_target_language_and_summary_label_follow_config_and_source(tmp_path):
    turns = Turns(language="de", turns=[
        Turn(id=0, speaker="Anna", start=0, end=2, text="Willkommen bei Anthropic, Jonas."),
        Turn(id=1, speaker="Jonas", start=2, end=4, text="Danke, Anna. Anthropic ist toll."),
    ])  # fmt: skip
    result, fake = run_in_process(tmp_path, turns, target_language="fr")
    text = render_post(result.post)
    assert text.count("<summary>Original German</summary>") == 2
    assert result.post.turns[0].translation[0].startswith("[fr] ")
    request = next(c for c in fake.history if c.task == "translate")
    assert "from German into French (fr)" in request.messages[0]["content"]


# --- 3b. resume after SIGKILL -----------------------------------------------------------

KILLABLE = """
import sys
from pathlib import Path
from pipeline.config import Config, LLMConfig
from pipeline.editorial import build_post
from pipeline.llm import OpenAIClient
from tests.editorial_data import make_episode, make_turns

config = Config(
    data_dir=Path(sys.argv[2]),
    llm=LLMConfig(base_url=sys.argv[1], api_key="k", model="fake-model", max_concurrency=1),
    editorial={"chunk_max_tokens": 300, "chunk_min_tokens": 100},
)
build_post(make_episode(), make_turns(40), config, OpenAIClient(config.llm), Path(sys.argv[3]))
print("finished")
"""


@pytest.mark.slow
def test_kill_mid_translation_then_rerun_requests_only_unfinished_chunks(
    fake_llm, llm_config, tmp_path
):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    cache = tmp_path / "cache"
    fake_llm.handle("translate", lambda request: FakeReply(delay=0.25))
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, fake_llm.base_url, str(tmp_path), str(cache)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(list(cache.glob("translate-*.json"))) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = len(list(cache.glob("translate-*.json")))
    assert not list(cache.glob(".*.tmp"))  # atomic writes: no half-written entry left
    served_before = len(fake_llm.requests(task="translate"))

    fake_llm.reset()
    config = Config(
        data_dir=tmp_path,
        llm=llm_config.model_copy(update={"max_concurrency": 1}),
        editorial={"chunk_max_tokens": 300, "chunk_min_tokens": 100},
    )
    turns = make_turns(40)
    result = build_post(make_episode(), turns, config, OpenAIClient(config.llm), cache)
    assert_complete_and_faithful(result, turns)
    asked = fake_llm.requests()
    assert [e["task"] for e in asked] == ["translate"] * (result.chunks - done)
    assert result.cached_chunks == done and 3 <= done < result.chunks
    assert served_before <= done + 1  # the killed run was inside at most one more chunk


# --- minor problems and endpoints without JSON schema support ---------------------------


def test_minor_problems_left_after_one_reask_are_accepted_and_flagged(
    fake_llm, llm_config, tmp_path
):
    def drop_numbers(request):
        answer = request.default()
        for turn in answer["turns"]:
            if turn["id"] == "3":
                turn["translation"] = re.sub(r"\d", "", turn["translation"])
        return answer

    fake_llm.handle("translate", drop_numbers)
    turns = make_turns(12)
    assert re.search(r"\d", turns.turns[3].text)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert not re.search(r"\d", result.post.turns[3].translation[0])
    assert result.failures == []
    assert [f for f in result.flags if f.startswith("turn 3 ")] == [
        f"turn 3 (3): numbers missing from the translation: "
        f"{', '.join(sorted(set(re.findall(r'[0-9]+', turns.turns[3].text))))}"
    ]
    assert len(translate_requests(fake_llm)) == result.chunks + 1  # one re-ask, no more


def test_endpoint_without_structured_output_still_completes(fake_llm, llm_config, tmp_path):
    fake_llm.formats = {"text"}
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    served = [e["response_format"] for e in fake_llm.requests() if e["status"] == 200]
    assert set(served) == {"text"}
    assert '"turns"' in fake_llm.requests(task="translate")[-1]["messages"][0]["content"]


def test_analysis_parts_are_cached_as_they_finish(fake_llm, llm_config, tmp_path):
    fake_llm.push(FakeReply.unauthorized(), task="analysis_reduce")
    with pytest.raises(LLMError):
        run(llm_config, tmp_path, make_turns(60), llm={"context_tokens": 7000})
    parts = len(fake_llm.requests(task="analysis"))
    assert parts >= 2
    fake_llm.reset()
    run(llm_config, tmp_path, make_turns(60), llm={"context_tokens": 7000})
    assert [e["task"] for e in fake_llm.requests()][:2] == ["analysis_reduce", "translate"]


def test_a_failed_analysis_still_gives_a_post_and_is_retried_next_run(
    fake_llm, llm_config, tmp_path
):
    fake_llm.handle("analysis", lambda request: FakeReply.refused("Not today."))
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns)
    assert_complete_and_faithful(result, turns)
    assert result.flags[0].startswith(
        "analysis failed (the model refused the analysis request: Not today.)"
    )
    assert [s.heading for s in result.post.sections] == [None]
    assert result.post.front.title == "Reasoning models and superalignment"  # the episode's
    assert check_post(render_post(result.post)) == []

    fake_llm.reset()
    again = run(llm_config, tmp_path, turns)
    assert [e["task"] for e in fake_llm.requests()].count("analysis") == 1
    assert again.post.sections[0].heading is not None and not again.flags


def test_a_truncated_analysis_is_asked_in_halves_then_merged(fake_llm, llm_config, tmp_path):
    fake_llm.push(FakeReply.truncated(), task="analysis")
    fake_llm.push(FakeReply.refused(), task="analysis_reduce")
    turns = make_turns(30)
    result = run(llm_config, tmp_path, turns)
    tasks = [e["task"] for e in fake_llm.requests()]
    assert tasks[:4] == ["analysis", "analysis", "analysis", "analysis_reduce"]
    halves = [ids_of(e) for e in fake_llm.requests(task="analysis")]
    assert halves[1] + halves[2] == halves[0] and len(halves[1]) == 15
    assert "merging the analysis parts failed" in result.flags[0]
    assert [s.start for s in result.analysis.sections] == [0, 10, 15, 25]  # both halves'
    assert_complete_and_faithful(result, turns)


def test_an_episode_without_text_is_refused_before_any_request(fake_llm, llm_config, tmp_path):
    from pipeline.errors import InputFileError

    empty = Turns(language="en", turns=[Turn(id=0, speaker="A", start=0, end=1, text="  ")])
    with pytest.raises(InputFileError, match="has no turns with text"):
        run(llm_config, tmp_path, empty)
    assert fake_llm.requests() == []


def test_chunks_run_concurrently_up_to_max_concurrency(fake_llm, llm_config, tmp_path):
    fake_llm.handle("translate", lambda request: FakeReply(delay=0.3))
    result = run(llm_config, tmp_path, make_turns(40), llm={"max_concurrency": 2})
    assert result.chunks >= 4 and result.chunks % 2 == 0
    assert fake_llm.max_in_flight == 2


def test_numeric_ids_in_the_answer_are_accepted(fake_llm, llm_config, tmp_path):
    def numeric(answer, request):
        for turn in answer["turns"]:
            turn["id"] = int(turn["id"])
        return answer

    fake_llm.push(FakeReply(transform=numeric), task="translate")
    turns = make_turns(12)
    result = run(llm_config, tmp_path, turns, llm={"max_concurrency": 1})
    assert_complete_and_faithful(result, turns)
    assert len(translate_requests(fake_llm)) == result.chunks
