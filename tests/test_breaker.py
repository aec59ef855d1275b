"""The circuit breaker: a model that never answers validly costs a bounded number of
requests, and the run says so in one line naming the turns (fake server's request log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import store
from pipeline.cli import main as cli_main
from pipeline.config import Config, LLMConfig
from pipeline.editorial import build_post
from pipeline.editorial.translate import STOPPED
from pipeline.errors import NeedsReviewError
from pipeline.llm import OpenAIClient
from pipeline.run.status import check_complete, turn_ranges
from pipeline.testing.fakellm import FakeReply
from tests.editorial_data import make_episode, make_turns

TASKS = ("analysis", "analysis_reduce", "translate")


def _broken(fake_llm) -> None:
    """Every answer malformed (the real client asks once more, then gives up on the call)."""
    for task in TASKS:
        fake_llm.handle(task, lambda request: FakeReply.malformed())


def test_forty_turns_of_nothing_valid_cost_at_most_20_requests(
    fake_llm, llm_config, tmp_path
) -> None:
    _broken(fake_llm)
    config = Config(data_dir=tmp_path, llm=llm_config)  # default chunks and concurrency (4)
    client = OpenAIClient(config.llm, sleep=lambda s: None)
    result = build_post(make_episode(), make_turns(40), config, client, tmp_path / "cache")
    served = fake_llm.requests()
    assert len(served) <= 20, [e["task"] for e in served]
    assert result.stopped == STOPPED.format(limit=LLMConfig().max_invalid_requests)
    assert [f.number for f in result.failures] == list(range(1, 41))
    assert result.summary()["stopped"] == result.stopped


def test_one_turn_the_model_always_refuses_does_not_trip_it(fake_llm, llm_config, tmp_path):
    def refuse_turn_5(request):
        if "5" in [line.id for line in request.lines]:
            return FakeReply.refused("I can't translate that.")
        return None

    fake_llm.handle("translate", refuse_turn_5)
    editorial = {"chunk_max_tokens": 600, "chunk_min_tokens": 100}
    config = Config(data_dir=tmp_path, llm=llm_config, editorial=editorial)
    client = OpenAIClient(config.llm, sleep=lambda s: None)
    result = build_post(make_episode(), make_turns(40), config, client, tmp_path / "cache")
    assert result.stopped == ""
    assert [(f.turn_id, f.number) for f in result.failures] == [(5, 6)]


def test_zero_turns_the_breaker_off(fake_llm, llm_config, tmp_path) -> None:
    _broken(fake_llm)
    llm = llm_config.model_copy(update={"max_invalid_requests": 0, "max_concurrency": 1})
    config = Config(data_dir=tmp_path, llm=llm)
    client = OpenAIClient(config.llm, sleep=lambda s: None)
    result = build_post(make_episode(), make_turns(6), config, client, tmp_path / "cache")
    assert result.stopped == "" and len(result.failures) == 6
    assert len(fake_llm.requests()) > 20  # the whole ladder, for every turn


def test_the_translate_command_stops_with_one_line_naming_the_turns(
    fake_llm, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("PODPOST_CONFIG", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    monkeypatch.setenv("PODPOST_LLM__RETRY_INITIAL_WAIT", "0.01")
    folder = tmp_path / "episodes" / "youtube-abc123"
    store.save(folder / store.EPISODE_FILE, make_episode())
    store.save(folder / store.TURNS_FILE, make_turns(40))
    _broken(fake_llm)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["translate", str(folder)])
    assert exit_info.value.code == 8
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: 40 turns of {folder / 'draft.md'} failed to translate (turns 1-40): the model "
        "gave no valid answer in 10 requests in a row, so podpost stopped asking; check "
        "[llm] model and base_url, then ask again for those turns only: podpost resume "
        "youtube-abc123 --retry-failed\n"
    )
    assert "failed: turn" not in captured.out  # not one line per turn
    assert len(fake_llm.requests()) <= 20
    assert (folder / "draft.md").is_file()


def test_turn_ranges_and_the_needs_review_line() -> None:
    assert turn_ranges([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    with pytest.raises(NeedsReviewError) as raised:
        check_complete("ep", "d.md", 2, [4, 5])
    assert raised.value.one_line() == (
        "2 turns of d.md failed to translate (turns 4-5); ask again for those turns only: "
        "podpost resume ep --retry-failed"
    )


def test_the_stop_hint_fits_the_model_in_use() -> None:
    stopped = STOPPED.format(limit=10)
    local = LLMConfig(local_model=Path("gemma.gguf"))
    endpoint = LLMConfig(base_url="http://127.0.0.1:8089/v1", api_key="k")
    lines = {}
    for name, llm in (("local", local), ("endpoint", endpoint), ("none", None)):
        with pytest.raises(NeedsReviewError) as raised:
            check_complete("ep", "d.md", 2, [4, 5], stopped, llm=llm)
        lines[name] = raised.value.one_line()
    head = (
        "2 turns of d.md failed to translate (turns 4-5): the model gave no valid answer in "
        "10 requests in a row, so podpost stopped asking; "
    )
    tail = ", then ask again for those turns only: podpost resume ep --retry-failed"
    assert lines == {
        "local": head + "try a bigger local model ([llm] local_model = a GGUF file, see "
        "docs/local-model.md) or an endpoint ([llm] base_url and api_key)" + tail,
        "endpoint": head + "check [llm] model and base_url" + tail,
        "none": head + "check the [llm] settings" + tail,
    }
