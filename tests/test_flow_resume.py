"""Resume: a failure in each step in turn, then a rerun that redoes nothing that finished.

One episode goes through seven runs in one data directory; before each, a real fault is
planted at a boundary: the media server refuses the audio, then the captions; the process
is SIGKILLed while the fake LLM holds the speaker-naming request; the fake LLM answers a
translation chunk with 401; the process is SIGKILLed while a later chunk is in flight; the
post template is broken. The counters are the servers' own logs (media requests, LLM
requests by task) and the stored files' inodes; the final draft must equal the draft of
an uninterrupted run in another data directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.testing.fakellm import FakeReply
from tests.fixtures.flows import REPO, publish_show, run_cli, status_rows, write_config


def _llm_counts(fake_llm) -> Counter[str]:
    return Counter(r["task"] for r in fake_llm.requests())


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


class Hold:
    """A fake-LLM handler that holds the ``nth`` request of its task until released."""

    def __init__(self, task: str, nth: int) -> None:
        self.task, self.nth, self.seen = task, nth, 0
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, request):
        self.seen += 1
        if self.seen == self.nth:
            self.entered.set()
            self.release.wait(60)
        return None


def _kill_when(args: list[str], env: dict[str, str], hold: Hold) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert hold.entered.wait(240), "the held request never arrived"
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(30)
    finally:
        hold.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _logged(fake_llm, task: str, count: int) -> None:
    """Wait until the fake logged ``count`` requests of ``task`` (a released request is
    logged by the server thread a moment after the release)."""
    deadline = time.monotonic() + 10
    while len(fake_llm.requests(task)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.slow
def test_each_step_fails_in_turn_and_reruns_redo_nothing_finished(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "resume")
    [audio_name], [vtt_name] = show.audio_names, show.vtt_names
    good = write_config(tmp_path / "good.toml", fake_llm.base_url)
    template = tmp_path / "broken.md.j2"
    template.write_text("{{ no_such_value }}\n")
    broken = write_config(
        tmp_path / "broken.toml", fake_llm.base_url, post={"template": str(template)}
    )
    env = prefect_api.client_env()

    def cli(data: Path, *args: str, config: Path = good) -> subprocess.CompletedProcess[str]:
        return run_cli(["--config", str(config), "--data-dir", str(data), *args], env=env)

    # --- an uninterrupted run: the reference draft and the reference counts -----------------
    done = cli(tmp_path / "a", "run", show.feed_url)
    assert done.returncode == 0, done.stderr
    reference = Path(done.stdout.strip()).read_text()
    base_audio, base_llm = media_server.hits(audio_name), _llm_counts(fake_llm)
    assert base_llm["speaker_names"] >= 1 and base_llm["translate"] >= 4, base_llm
    data = tmp_path / "b"

    served: Counter[str] = Counter()  # every request of runs 1-7; reset() clears the log

    def reset() -> None:
        served.update(_llm_counts(fake_llm))
        fake_llm.reset()

    reset()
    served.clear()

    def status() -> dict:
        [row] = status_rows(data)
        return row

    # 1. fetch: the media server refuses the audio once (404)
    media_server.route(audio_name, fail_first=media_server.hits(audio_name) + 1, fail_status=404)
    failed = cli(data, "run", show.feed_url)
    assert failed.returncode == 3, failed.stderr
    assert failed.stderr.splitlines()[-1] == (
        f"error: {media_server.url(audio_name)} is not found (HTTP 404); check the URL"
    )
    assert "Traceback" not in failed.stderr
    [row] = status_rows(data)  # no episode folder yet: the ledger remembers the failure
    assert (row["id"], row["state"], row["step"], row["source"]) == (
        None,
        "failed",
        "fetch",
        show.feed_url,
    )
    assert row["error"] == failed.stderr.splitlines()[-1].removeprefix("error: ")

    # 2. transcribe: the captions are refused once; `resume --all` retries the failed fetch
    # (from the ledger), which now succeeds, and the run fails here
    media_server.route(vtt_name, fail_first=media_server.hits(vtt_name) + 1, fail_status=404)
    audio_before = media_server.hits(audio_name)
    failed = cli(data, "resume", "--all")
    assert failed.returncode == 1, failed.stderr  # resume --all: 1 when any run failed
    assert failed.stderr.splitlines()[-1] == (
        f"{show.feed_url}: error: {media_server.url(vtt_name)} is not found (HTTP 404); "
        "check the URL"
    )
    downloads = media_server.hits(audio_name) - audio_before
    assert downloads == base_audio  # the one real fetch of this data directory
    row = status()
    episode = row["id"]
    folder = data / "episodes" / episode
    assert (row["state"], row["step"], row["last_step"]) == ("failed", "transcribe", "fetch")
    assert "404" in row["error"]

    # 3. turns: SIGKILL while the fake LLM holds the speaker-naming request
    hold = Hold("speaker_names", 1)
    fake_llm.handle(hold.task, hold)
    assert (
        _kill_when(["--config", str(good), "--data-dir", str(data), "resume", episode], env, hold)
        == -signal.SIGKILL
    )
    _logged(fake_llm, hold.task, hold.seen)
    reset()
    transcript = _stat(folder / "transcript.json")
    row = status()
    assert (row["state"], row["step"], row["last_step"]) == ("failed", "turns", "transcribe")
    assert row["error"].startswith("interrupted during turns")

    # 4. editorial: the second translation chunk gets 401 (not retried: the run ends)
    calls = {"n": 0}

    def second_is_unauthorized(request):
        calls["n"] += 1
        return FakeReply.unauthorized() if calls["n"] == 2 else None

    fake_llm.handle("translate", second_is_unauthorized)
    failed = cli(data, "run", show.feed_url)
    assert failed.returncode == 6, failed.stderr
    reset()
    turns = _stat(folder / "turns.json")
    assert _stat(folder / "transcript.json") == transcript
    row = status()
    assert (row["state"], row["step"], row["last_step"]) == ("failed", "editorial", "turns")

    # 5. SIGKILL while the third chunk of this run is in flight
    hold = Hold("translate", 3)
    fake_llm.handle(hold.task, hold)
    assert (
        _kill_when(
            ["--config", str(good), "--data-dir", str(data), "run", show.feed_url], env, hold
        )
        == -signal.SIGKILL
    )
    _logged(fake_llm, hold.task, hold.seen)
    reset()
    assert status()["error"].startswith("interrupted during editorial")

    # 6. render: a broken template; editorial finishes first, then the run fails
    failed = cli(data, "run", show.feed_url, config=broken)
    assert failed.returncode == 2 and "no_such_value" in failed.stderr, failed.stderr
    row = status()
    assert (row["state"], row["step"], row["last_step"]) == ("failed", "render", "editorial")

    # 7. the last rerun: no download, no transcription, no LLM request at all
    reset()
    before_audio, before_vtt = media_server.hits(audio_name), media_server.hits(vtt_name)
    done = cli(data, "resume", "--all")
    assert done.returncode == 0, done.stderr
    assert fake_llm.requests() == []
    assert (media_server.hits(audio_name), media_server.hits(vtt_name)) == (
        before_audio,
        before_vtt,
    )
    assert _stat(folder / "transcript.json") == transcript
    assert _stat(folder / "turns.json") == turns
    draft = Path(done.stdout.strip())
    assert draft.read_text() == reference
    row = status()
    assert (row["state"], row["last_step"], row["error"]) == ("done", "render", None)

    # Over all seven runs: one download, and every LLM request of the reference run once,
    # plus only the requests that were refused or in flight when a process died.
    assert media_server.hits(audio_name) - audio_before == base_audio
    llm = served + _llm_counts(fake_llm)
    assert llm["speaker_names"] == base_llm["speaker_names"] + 1  # the one held at the kill
    assert llm["translate"] == base_llm["translate"] + 2  # the 401 and the one in flight
    assert llm["analysis"] == base_llm["analysis"]
