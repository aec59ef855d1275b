"""Ctrl-C during `podpost run`: exit 130 and one line on stderr that names the episode and
the command that finishes it (the same process, a real SIGINT, a real Prefect server)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.flows import REPO, default_sigint, publish_show, status_rows, write_config
from tests.test_flow_resume import Hold


@pytest.mark.slow
def test_ctrl_c_during_a_run_names_the_episode_and_the_resume_command(
    tmp_path: Path, media_server, audio, fake_llm, prefect_api
) -> None:
    show = publish_show(media_server, audio, "interrupt")
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url)
    data = tmp_path / "data"
    hold = Hold("translate", 1)  # the first translation chunk waits: the run is mid-step
    fake_llm.handle("translate", hold)
    command = [sys.executable, "-m", "pipeline", "--config", str(config)]
    command += ["--data-dir", str(data), "run", show.feed_url]
    proc = subprocess.Popen(
        command,
        preexec_fn=default_sigint,  # a real Ctrl-C, whatever the suite inherited
        env=prefect_api.client_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert hold.entered.wait(240), "the held request never arrived"
        proc.send_signal(signal.SIGINT)
        hold.release.set()
        out, err = proc.communicate(timeout=60)
    finally:
        hold.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert out == ""
    [row] = status_rows(data)
    episode = row["id"]
    assert row["state"] == "failed" and row["step"] == "editorial"
    assert err.splitlines()[-1] == (
        f"interrupted (Ctrl-C) during editorial: episode {episode}; "
        f"`podpost resume {episode}` finishes it; finished steps are kept"
    )
    assert "Traceback" not in err
