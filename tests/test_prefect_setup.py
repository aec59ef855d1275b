"""Prefect's temporary server as a first run meets it: an empty PREFECT_HOME whose parent
does not exist, the start-up wait, and a server that does not come up (one line)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.prefect_setup import EPHEMERAL_STARTUP_SECONDS
from tests.fixtures.flows import REPO, base_env

# Runs in a fresh interpreter: Prefect reads its settings once, on import.
SCRIPT = """
import os, sys
import httpx
from flows.prefect_setup import prepare, startup_seconds
from pipeline.errors import PodpostError
try:
    prepare(os.environ)
except PodpostError as e:
    print(e.exit_code, e.one_line())
    sys.exit(0)
from prefect.server.api.server import SubprocessASGIServer
url = SubprocessASGIServer().api_url
print("up", startup_seconds(), httpx.get(url + "/health", timeout=10).status_code)
"""


def _prepare(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_temporary_server_starts_from_an_empty_home_whose_parent_is_missing(tmp_path: Path):
    home = tmp_path / "no-such-user" / ".prefect"
    env = base_env(home)  # PREFECT_HOME set, no PREFECT_API_URL: the temporary server
    assert _prepare(env) == f"up {EPHEMERAL_STARTUP_SECONDS} 200"
    assert (home / "prefect.db").is_file()


@pytest.mark.slow
def test_a_server_that_does_not_come_up_in_time_is_one_line(tmp_path: Path):
    home = tmp_path / "home"
    # The user's own wait wins over podpost's default; one second is less than the
    # server's interpreter needs to import Prefect, let alone create its database.
    env = {**base_env(home), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1"}
    assert _prepare(env) == (
        f"4 Prefect's temporary server did not start within 1 s (no answer; "
        f"PREFECT_HOME={home}); start a server with `prefect server start` (in another "
        "terminal) and set PREFECT_API_URL=http://127.0.0.1:4200/api, or allow a slow "
        "first start more time with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    )


def test_home_that_cannot_be_created_is_one_line(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = base_env(blocker / "home")  # a file where a folder should be
    assert _prepare(env) == (
        f"2 cannot create PREFECT_HOME {blocker / 'home'} (Not a directory); set "
        "PREFECT_HOME to a folder you can write, or point PREFECT_API_URL at a running "
        "Prefect server"
    )
