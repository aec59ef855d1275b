"""OS, SQLite, subprocess and SDK failures arrive as podpost errors, chained to the cause."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy.exc
from pydantic import BaseModel

from pipeline import store
from pipeline.config import LLMConfig
from pipeline.errors import InputFileError, LLMOutputError, MissingDependencyError, StorageError
from pipeline.fsutil import write_atomic
from pipeline.llm import OpenAIClient
from pipeline.models import Turns
from pipeline.run.ledger import Ledger


def test_writing_under_a_file_is_a_storage_error(tmp_path: Path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StorageError, match=r"cannot write .*plain/a\.json") as info:
        write_atomic(tmp_path / "plain" / "a.json", "{}")
    assert isinstance(info.value.__cause__, OSError) and info.value.exit_code == 1


def test_replacing_a_folder_is_a_storage_error_and_leaves_no_temporary_file(tmp_path: Path):
    (tmp_path / "turns.json").mkdir()
    with pytest.raises(StorageError, match="cannot write") as info:
        store.save(tmp_path / "turns.json", Turns(language="en"))
    assert isinstance(info.value.__cause__, IsADirectoryError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["turns.json"]


def test_reading_a_folder_is_an_input_file_error(tmp_path: Path):
    (tmp_path / "turns.json").mkdir()
    with pytest.raises(InputFileError, match=r"cannot read .*turns\.json: Is a directory"):
        store.load(tmp_path / "turns.json", Turns)


def test_a_damaged_ledger_is_a_storage_error_that_says_what_to_do(tmp_path: Path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database, just bytes " * 100)
    with pytest.raises(
        StorageError, match=r"state database sqlite:///.* cannot be used: file is not a database"
    ) as info:
        Ledger(path)
    assert isinstance(info.value.__cause__, sqlalchemy.exc.DatabaseError)
    assert isinstance(info.value.__cause__.orig, sqlite3.DatabaseError)
    assert "if it is damaged, move it away" in info.value.one_line()


def test_without_ffmpeg_decoding_says_to_install_it(tmp_path: Path, monkeypatch):
    from pipeline.audio.pcm import decode_pcm
    from pipeline.turns.diarize import load_audio

    audio = tmp_path / "audio.wav"
    audio.write_bytes(b"RIFF")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run there
    for call in (lambda: decode_pcm(audio, tmp_path / "a.pcm"), lambda: load_audio(audio)):
        with pytest.raises(MissingDependencyError, match="ffmpeg is not installed") as info:
            call()
        assert "apt-get install ffmpeg" in str(info.value)
        assert isinstance(info.value.__cause__, FileNotFoundError)


class Names(BaseModel):
    names: list[str]


def test_a_completion_without_choices_is_an_output_error():
    def create(**request):
        return SimpleNamespace(choices=[], usage=SimpleNamespace(prompt_tokens=3))

    sdk = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
    client = OpenAIClient(LLMConfig(api_key="k"), sdk=sdk)  # type: ignore[arg-type]
    with pytest.raises(LLMOutputError, match="the names answer has no choices") as info:
        client.complete_json([{"role": "user", "content": "hi"}], Names, task="names")
    assert info.value.usage.requests == 1 and info.value.usage.prompt_tokens == 3
