"""Commands that run no model load no model library (the guard; the timing is
bench/startup.py's).

Each case is a fresh interpreter: it imports ``pipeline.cli``, optionally runs one
command as a user would (``main([...])``, an empty data folder, no config file, no
``PODPOST_*`` variables), and prints which of the heavy libraries are in ``sys.modules``.
A module-level import of the library in a command module, a stage's ``__init__`` or a
registry that imports its backends shows up here as a name in that list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Loaded only by the commands that use them: models, flows, the LLM SDK, downloads, the
# preview server, clustering, feeds, language tables.
HEAVY = (
    "torch",
    "whisper",
    "faster_whisper",
    "prefect",
    "openai",
    "yt_dlp",
    "fastapi",
    "uvicorn",
    "sklearn",
    "scipy",
    "numpy",
    "feedparser",
    "langcodes",
)

SCRIPT = """
import contextlib, io, json, sys
import pipeline.cli
argv = json.loads(sys.argv[1])
if argv:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            pipeline.cli.main(argv)
        except SystemExit as e:
            code = e.code
    assert code in (0, None), code
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["status"], ["review"]],
    ids=["import", "help", "status", "review"],
)
def test_commands_that_run_no_model_import_no_model_library(argv, tmp_path):
    (tmp_path / "data" / "drafts").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODPOST_", "OPENAI_"))}
    env.update(
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PODPOST_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(argv), json.dumps(HEAVY)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
