"""`podpost turns EPISODE_DIR`: writes turns.json, prints the table, clean errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import store
from pipeline.cli import main
from pipeline.cli.speakers import summary_table
from pipeline.models import Turns
from pipeline.testing.fakellm import FakeLLM
from pipeline.turns.naming import TASK
from pipeline.turns.segment import same_text
from tests.fixtures.interview import Interview


def _episode_dir(interview: Interview, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(interview.audio, folder / interview.episode.audio_file)
    store.save(folder / store.EPISODE_FILE, interview.episode)
    store.save(folder / store.TRANSCRIPT_FILE, interview.transcript)
    return folder


def _config(tmp_path: Path, llm_url: str | None = None) -> Path:
    llm = f'[llm]\nbase_url = "{llm_url}"\napi_key = "k"\nmax_retries = 0\n' if llm_url else ""
    path = tmp_path / "podpost.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{llm}', encoding="utf-8")
    return path


def _run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.mark.slow
def test_turns_writes_turns_json_and_prints_the_table(interview2, tmp_path, capsys):
    folder = _episode_dir(interview2, tmp_path / "episode")
    code = _run(["--config", str(_config(tmp_path)), "turns", str(folder), "--no-llm"])
    out, err = capsys.readouterr()
    assert code == 0, err
    saved = store.load(folder / store.TURNS_FILE, Turns)
    assert [(s.label, s.name, s.known, s.source) for s in saved.speakers] == [
        ("S0", "Maya Lindqvist", True, "heuristic"),
        ("S1", "Tomas Okafor", True, "heuristic"),
    ]
    assert [t.speaker for t in saved.turns] == [t.speaker for t in interview2.turns]
    assert same_text(" ".join(t.text for t in saved.turns), interview2.transcript.text)
    assert out == summary_table(saved) + "\n"
    lines = out.splitlines()
    assert lines[0].split() == ["speaker", "turns", "talk", "time", "named", "by"]
    assert lines[1].split()[:3] == ["Maya", "Lindqvist", "5"]
    assert lines[2].split()[:3] == ["Tomas", "Okafor", "5"]
    assert f"wrote {folder / store.TURNS_FILE}" in err


@pytest.mark.slow
def test_speakers_flag_beats_the_llm(interview2, tmp_path, capsys, fake_llm: FakeLLM):
    folder = _episode_dir(interview2, tmp_path / "episode")
    config = _config(tmp_path, fake_llm.base_url)  # type: ignore[attr-defined]
    args = ["--config", str(config), "turns", str(folder), "--speakers", "Maya L., T. Okafor"]
    assert _run(args) == 0, capsys.readouterr().err
    saved = store.load(folder / store.TURNS_FILE, Turns)
    assert [(s.name, s.source) for s in saved.speakers] == [
        ("Maya L.", "override"),
        ("T. Okafor", "override"),
    ]
    assert fake_llm.requests(task=TASK) == []


def test_pyannote_not_installed_exits_2_with_the_install_hint(interview2, tmp_path, capsys):
    pytest.importorskip("numpy")
    try:
        import pyannote.audio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyannote.audio is installed here")
    folder = _episode_dir(interview2, tmp_path / "episode")
    args = ["--config", str(_config(tmp_path)), "turns", str(folder), "--diarizer", "pyannote"]
    assert _run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the pyannote diarization backend needs pyannote.audio")
    assert "pip install 'podpost[pyannote]'" in err
    assert "Traceback" not in err
    assert not (folder / store.TURNS_FILE).exists()


def test_not_an_episode_folder_exits_2(tmp_path, capsys):
    assert _run(["--config", str(_config(tmp_path)), "turns", str(tmp_path)]) == 2
    assert "is not an episode folder" in capsys.readouterr().err


def test_missing_transcript_exits_2(interview2, tmp_path, capsys):
    folder = _episode_dir(interview2, tmp_path / "episode")
    (folder / store.TRANSCRIPT_FILE).unlink()
    assert _run(["--config", str(_config(tmp_path)), "turns", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "transcript.json does not exist" in err


def test_unknown_diarizer_lists_the_choices(interview2, tmp_path, capsys):
    folder = _episode_dir(interview2, tmp_path / "episode")
    args = ["--config", str(_config(tmp_path)), "turns", str(folder), "--diarizer", "magic"]
    assert _run(args) == 2
    assert "builtin, none, pyannote" in capsys.readouterr().err


def test_none_diarizer_needs_no_audio_and_gives_one_speaker(interview2, tmp_path, capsys):
    folder = _episode_dir(interview2, tmp_path / "episode")
    (folder / interview2.episode.audio_file).unlink()
    args = ["--config", str(_config(tmp_path)), "turns", str(folder), "--diarizer", "none"]
    assert _run([*args, "--no-llm"]) == 0, capsys.readouterr().err
    saved = store.load(folder / store.TURNS_FILE, Turns)
    assert [(s.label, s.name) for s in saved.speakers] == [("S0", "Maya Lindqvist")]
    assert len(saved.turns) == 1


def test_a_rejected_key_writes_no_turns_and_the_fixed_key_names_by_llm(
    interview2, tmp_path, capsys, fake_llm: FakeLLM
):
    # Heuristic names written after a 401 would stay after the key is fixed; none are.
    folder = _episode_dir(interview2, tmp_path / "episode")
    config = _config(tmp_path, fake_llm.base_url)  # type: ignore[attr-defined]
    args = ["--config", str(config), "turns", str(folder), "--diarizer", "none"]
    fake_llm.api_key = "another-key"
    assert _run(args) == 6
    err = capsys.readouterr().err
    assert err.startswith("error: the LLM endpoint") and "rejected the API key (401" in err
    assert not (folder / store.TURNS_FILE).exists()
    fake_llm.api_key = "k"  # the key the config holds
    assert _run(args) == 0, capsys.readouterr().err
    saved = store.load(folder / store.TURNS_FILE, Turns)
    assert [(s.label, s.name, s.source) for s in saved.speakers] == [
        ("S0", "Maya Lindqvist", "llm")
    ]
    assert [r["status"] for r in fake_llm.requests(task=TASK)] == [401, 200]
