"""A stage's warnings (caption cues skipped or moved, an encoding guessed) reach the user
once each, from `podpost transcribe` and from `podpost run` alike."""

from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path

import pytest

from pipeline.run.progress import relay_warnings
from tests.cli_helpers import cli
from tests.fixtures.flows import run_cli, write_config

# French captions saved in cp1252, with a cue whose timing cannot be read and a cue that
# ends when it starts.
VTT = (
    "WEBVTT\n\n"
    "00:00:00.500 --> 00:00:02.000\n<v Ada Brook>Bienvenue au café, très heureuse de vous voir.\n\n"
    "00:00:02.000 --> 00:00:02.000\n<v Léo Park>Merci beaucoup, c'est un plaisir d'être là.\n\n"
    "00:00:xx.000 --> 00:00:05.000\n<v Ada Brook>Timing cassé.\n\n"
    "00:00:05.000 --> 00:00:07.000\n<v Ada Brook>Commençons par les bases, à propos des données.\n"
)


def _talk(folder: Path) -> Path:
    """``talk.wav`` (8 s of silence) with ``talk.vtt`` beside it; returns the media."""
    media = folder / "talk.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
         "-t", "8", str(media)],
        check=True,
    )  # fmt: skip
    (folder / "talk.vtt").write_bytes(VTT.encode("cp1252"))
    return media


def _warnings(folder: Path) -> list[str]:
    return [
        f"warning: {folder / 'talk.vtt'} is not UTF-8: read as cp1252 (detected); if "
        "characters look wrong, save it as UTF-8",
        "warning: WebVTT: 1 cue(s) with unreadable timings skipped",
        "warning: WebVTT: cue at 2.000 s ends at 2.000 s; keeping its text, ending it at 5.000 s",
    ]


def test_transcribe_prints_each_caption_warning_once(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    media = _talk(tmp_path)
    data = ["--data-dir", str(tmp_path / "data")]
    code, out, err = cli([*data, "transcribe", str(media), "--backend", "captions"], capsys)
    assert code == 0, err
    assert out.startswith("3 segments (captions, en): ")
    assert err.splitlines() == _warnings(tmp_path)


@pytest.mark.slow  # a whole run through Prefect (about 10 s)
def test_run_prints_the_same_warnings_once(tmp_path: Path, fake_llm, prefect_api) -> None:
    media = _talk(tmp_path)
    config = write_config(tmp_path / "podpost.toml", fake_llm.base_url, diarize={"backend": "none"})
    args = ["--config", str(config), "--data-dir", str(tmp_path / "data"), "run", str(media)]
    done = run_cli(args, env=prefect_api.client_env())
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    # Each once, while the step runs: between its start line and its end line.
    start = lines.index("transcribe: captions backend")
    assert lines[start + 1 : start + 5] == [
        *_warnings(tmp_path),
        "transcription (audio seconds): 100%",  # stderr is a pipe: the plain progress line
    ]
    assert lines[start + 5].startswith("transcribe: done in ")
    assert sum(line.startswith("warning: ") for line in lines) == 3
    # A second run keeps the transcript: nothing is read again, nothing is repeated.
    again = run_cli(args, env=prefect_api.client_env())
    assert again.returncode == 0, again.stderr
    assert "transcribe: finished before, kept" in again.stderr
    assert "warning: " not in again.stderr


def test_a_relay_passes_on_only_its_own_threads_warnings() -> None:
    # Episodes of an ingest run in threads side by side: each relay shows its own episode's
    # warnings, even with a root handler that drops them (as Prefect's console does).
    quiet = logging.StreamHandler()
    quiet.setLevel(logging.CRITICAL)
    logging.getLogger().addHandler(quiet)
    seen: dict[str, list[str]] = {"a": [], "b": []}
    both_relaying = threading.Barrier(2)

    def episode(name: str) -> None:
        with relay_warnings(seen[name].append):
            both_relaying.wait()
            logging.getLogger("pipeline.transcribe.captions").warning("cue in %s", name)
            logging.getLogger("pipeline.turns.naming").info("not a warning")
            both_relaying.wait()

    try:
        threads = [threading.Thread(target=episode, args=(name,)) for name in seen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logging.getLogger().removeHandler(quiet)
    assert seen == {"a": ["cue in a"], "b": ["cue in b"]}
    assert logging.getLogger("pipeline").handlers == []  # each relay removed itself
