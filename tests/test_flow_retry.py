"""`podpost resume EPISODE --retry-failed`: only the failed translations are asked again."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.editorial import wire
from pipeline.post.parse import parse_post
from pipeline.testing.fakellm import FakeReply
from tests.fixtures.flows import publish_show, run_cli, status_rows, write_config


@pytest.mark.slow
def test_retry_failed_asks_only_for_the_failed_turn(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "retry")
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url)
    data = tmp_path / "data"
    env = prefect_api.client_env()
    base = ["--config", str(config), "--data-dir", str(data)]

    def untranslated(request):  # the model keeps answering one line in English
        answer = request.default()
        texts = {line.id: line.text for line in request.lines}
        for turn in answer["turns"]:
            if "hardest part" in texts[turn["id"]]:
                turn["translation"] = texts[turn["id"]]
        return answer

    fake_llm.handle("translate", untranslated)
    done = run_cli([*base, "run", show.feed_url], env=env)
    # one bad turn never stops the run, but the run is not a success either: exit 8
    assert done.returncode == 8, done.stderr
    draft = Path(done.stdout.strip())
    turns = parse_post(draft.read_text()).turns
    failed = [(n, t) for n, t in enumerate(turns, 1) if not t.translation]
    assert len(failed) == 1 and "hardest part" in failed[0][1].original
    [row] = status_rows(data)
    assert (row["state"], row["failed_turns"]) == ("needs-review", 1)
    assert done.stderr.splitlines()[-1] == (
        f"error: 1 turn of {draft} failed to translate (turns {failed[0][0]}); ask again for "
        f"those turns only: podpost resume {row['id']} --retry-failed"
    )

    fake_llm.reset()  # the model behaves now
    hits = media_server.hits(show.audio_names[0])
    again = run_cli([*base, "resume", "--all", "--retry-failed"], env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{draft}\n"
    requests = fake_llm.requests()
    assert {r["task"] for r in requests} == {"translate"}
    asked = [  # the lines each request asks to translate (context lines are not among them)
        line.text
        for r in requests
        for line in wire.parse_user_message(
            next(m["content"] for m in r["messages"] if m["role"] == "user")
        )[1]
    ]
    assert asked and all("hardest part" in text for text in asked)
    assert media_server.hits(show.audio_names[0]) == hits
    assert all(t.translation for t in parse_post(draft.read_text()).turns)
    [row] = status_rows(data)
    assert (row["state"], row["failed_turns"]) == ("done", 0)

    # a setting that matters only to the editorial step redoes that step alone
    fake_llm.reset()
    transcript = (data / "episodes" / row["id"] / "transcript.json").stat().st_mtime_ns
    japanese = run_cli([*base, "run", show.feed_url, "--lang", "ja"], env=env)
    assert japanese.returncode == 0, japanese.stderr
    tasks = {r["task"] for r in fake_llm.requests()}
    assert "translate" in tasks and "speaker_names" not in tasks
    for step in ("fetch", "transcribe", "turns"):
        assert f"{step}: finished before, kept" in japanese.stderr
    assert "editorial: done" in japanese.stderr
    assert media_server.hits(show.audio_names[0]) == hits
    assert (data / "episodes" / row["id"] / "transcript.json").stat().st_mtime_ns == transcript
    assert "【訳】" in draft.read_text()  # the fake's Japanese mark


@pytest.mark.slow
def test_a_model_that_never_answers_validly_stops_the_run_in_one_line(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "breaker")
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url)
    data = tmp_path / "data"
    for task in ("analysis", "analysis_reduce", "translate"):
        fake_llm.handle(task, lambda request: FakeReply.malformed())
    base = ["--config", str(config), "--data-dir", str(data)]
    done = run_cli([*base, "run", show.feed_url], env=prefect_api.client_env())
    assert done.returncode == 8, done.stderr
    draft = Path(done.stdout.strip())
    turns = parse_post(draft.read_text()).turns
    assert not any(t.translation for t in turns)
    [row] = status_rows(data)
    assert done.stderr.splitlines()[-1] == (
        f"error: {len(turns)} turns of {draft} failed to translate (turns 1-{len(turns)}): the "
        "model gave no valid answer in 10 requests in a row, so podpost stopped asking; check "
        f"[llm] model and base_url, then ask again for those turns only: podpost resume "
        f"{row['id']} --retry-failed"
    )
    editorial = [r for r in fake_llm.requests() if r["task"] != "speaker_names"]
    assert len(editorial) <= 20
