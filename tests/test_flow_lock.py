"""Two runs of one episode at once, hand-edited drafts, and `podpost render`."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fixtures.flows import LINES, REPO, publish_show, run_cli, status_rows, write_config


class Hold:
    """Holds the first request of a task until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, request):
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(120)
        return None


@pytest.mark.slow
def test_second_run_refuses_or_waits_and_edits_are_never_overwritten(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "lock", lines=LINES[:2])
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    data = tmp_path / "data"
    env = prefect_api.client_env()
    base = ["--config", str(config), "--data-dir", str(data)]

    # run A holds the episode (its analysis request is held by the fake LLM)
    hold = Hold()
    fake_llm.handle("analysis", hold)
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *base, "run", show.feed_url],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert hold.entered.wait(240)
        [row] = status_rows(data)
        assert (row["state"], row["step"], row["last_step"]) == ("running", "editorial", "turns")

        # run B refuses at once, saying who holds the episode
        refused = run_cli([*base, "run", show.feed_url], env=env)
        assert refused.returncode == 7
        assert refused.stderr.splitlines()[-1].startswith(
            f"error: episode {row['id']} is already being processed by process {first.pid}"
        )
        assert "--wait" in refused.stderr

        # run C waits for A, then finds everything done
        waiting = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *base, "run", show.feed_url, "--wait"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(3)  # still queued behind A
    finally:
        hold.release.set()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    requests = len(fake_llm.requests())
    out_c, err_c = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err_c
    assert out_c == out  # the same draft
    assert len(fake_llm.requests()) == requests  # C redid nothing
    for step in ("fetch", "transcribe", "turns", "editorial"):
        assert f"{step}: finished before, kept" in err_c

    # a hand edit is never overwritten: the rerun writes beside it and says so
    draft = Path(out.strip())
    edited = draft.read_text().replace("summary: ", "summary: Edited by hand. ", 1)
    draft.write_text(edited)
    again = run_cli([*base, "run", show.feed_url], env=env)
    assert again.returncode == 0, again.stderr
    beside = draft.with_name(f"{draft.stem}.new.md")
    assert again.stdout == f"{beside}\n"
    assert f"{draft} was edited by hand since podpost wrote it, so it was kept" in again.stderr
    assert draft.read_text() == edited
    [row] = status_rows(data)  # the episode's draft is still the edited one; beside it,
    # the new version is proposed
    assert (row["draft"], row["review"]) == (str(draft), "edited")
    assert (row["proposal"], row["proposal_review"]) == (str(beside), "drafted")

    # `podpost render` after a template change: no ASR or LLM work, the new template used
    template = tmp_path / "post.md.j2"
    builtin = (REPO / "templates" / "post.md.j2").read_text()
    template.write_text(builtin.replace("<details>", "<details open>"))
    fake_llm.reset()
    hits = media_server.hits(show.audio_names[0]), media_server.hits(show.vtt_names[0])
    config.write_text(config.read_text() + f'\n[post]\ntemplate = "{template}"\n')
    before = beside.read_text()
    rendered = run_cli([*base, "render", row["id"]], env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout == f"{beside}\n"
    assert beside.read_text() == before.replace("<details>", "<details open>")
    assert before.count("<details>") == 1  # one speaker, one turn
    assert fake_llm.requests() == []
    assert (media_server.hits(show.audio_names[0]), media_server.hits(show.vtt_names[0])) == hits
