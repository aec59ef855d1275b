"""``podpost translate`` on an episode folder, against the fake server."""

from __future__ import annotations

import json

import pytest

from pipeline import store
from pipeline.cli import main as cli_main
from pipeline.post.parse import parse_post
from pipeline.testing.fakellm import FakeReply
from tests.editorial_data import make_episode, make_turns


def main(argv: list[str]) -> None:
    """Run the CLI; a clean exit is fine, any other code fails the caller's expectations."""
    try:
        cli_main(argv)
    except SystemExit as e:
        if e.code not in (0, None):
            raise


@pytest.fixture
def episode_folder(tmp_path, monkeypatch, fake_llm):
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    for name in ("PODPOST_CONFIG", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PODPOST_EDITORIAL__CHUNK_MAX_TOKENS", "600")
    folder = tmp_path / "episodes" / "youtube-abc123"
    store.save(folder / store.EPISODE_FILE, make_episode())
    store.save(folder / store.TURNS_FILE, make_turns(10))
    return folder


def test_translate_writes_the_draft_and_reruns_from_cache(
    episode_folder, fake_llm, monkeypatch, capsys
):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    main(["--data-dir", str(episode_folder.parent.parent), "translate", "youtube-abc123"])
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {episode_folder / 'draft.md'}: 10 turns in 1 sections;")
    post = parse_post((episode_folder / "draft.md").read_text(encoding="utf-8"))
    assert all(t.translation for t in post.turns)
    summary = json.loads((episode_folder / "editorial.json").read_text())
    assert summary["usage"]["requests"] == len(fake_llm.requests()) >= 2

    main(["translate", str(episode_folder), "-o", str(episode_folder / "again.md")])
    assert "0 requests" in capsys.readouterr().out
    assert (episode_folder / "again.md").read_bytes() == (episode_folder / "draft.md").read_bytes()


def test_failed_turns_are_listed_with_the_retry_hint(episode_folder, fake_llm, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    fake_llm.handle(
        "translate",
        lambda r: FakeReply.refused("no") if "3" in [x.id for x in r.lines] else None,
    )
    main(["translate", str(episode_folder)])
    out = capsys.readouterr().out
    assert "failed: turn 3 (Pavel Izmailov): the model refused the translate request: no" in out
    assert out.rstrip().endswith("rerun with --retry-failed to ask again for the failed turns only")
    fake_llm.handle("translate", lambda r: None)
    main(["translate", str(episode_folder), "--retry-failed"])
    assert "failed:" not in capsys.readouterr().out


def test_missing_key_is_one_line_with_what_to_set(episode_folder, capsys, monkeypatch):
    monkeypatch.setenv("PODPOST_LLM__PROVIDER", "endpoint")  # else no key: the local model
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", str(episode_folder)])
    assert exit_info.value.code == 6
    err = capsys.readouterr().err
    assert err.startswith("error: no API key for the LLM endpoint; set [llm] base_url and api_key")
    assert "http://localhost:11434/v1" in err and err.count("\n") == 1


def test_a_folder_without_turns_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path), "translate", "nope"])
    assert exit_info.value.code == 2
    assert "turns.json does not exist; give an episode folder" in capsys.readouterr().err
