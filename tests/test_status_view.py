"""`podpost status` prints every episode id whole, whatever the terminal's width."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.db import open_state
from pipeline.run.state import EpisodeRun
from tests.cli_helpers import cli

LONG_ID = "rss-feeds.example.com-the-long-podcast-name-2026-03-02-a1b2c3d4"  # 63 characters
TITLE = "向量数据库与检索增强生成——专访 Leo Park，以及延迟、成本和索引"


def _runs(data: Path) -> dict[str, Path]:
    """Two finished runs with drafts and one failed run; returns each id's draft path."""
    config = Config(data_dir=data)
    drafts = {}
    for episode_id, title in [(LONG_ID, TITLE), ("youtube-abcDEF12345", "Short")]:
        folder = config.episodes_dir / episode_id
        run = EpisodeRun(open_state(config), folder, episode_id, "https://example.com/x")
        run.begin()
        drafts[episode_id] = config.drafts_path / f"{episode_id}.md"
        run.update(title=title, tokens=1234, draft_path=str(drafts[episode_id]))
        run.finish_step("render", "k", [], 0.1)
        run.done()
    run = EpisodeRun(
        open_state(config), config.episodes_dir / "local-talk", "local-talk", "/tmp/talk.mp3"
    )
    run.begin()
    run.update(title="Talk")
    run.finish_step("fetch", "k", [], 0.1)
    run.fail("transcribe", "no speech found in /tmp/talk.mp3; check the file")
    return drafts


def _status(tmp_path: Path, capsys, monkeypatch, columns: int) -> str:
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = cli(["--data-dir", str(tmp_path / "data"), "status"], capsys)
    assert (code, err) == (0, "")
    return out


@pytest.mark.parametrize("columns", [60, 80])
def test_a_narrow_terminal_gets_one_block_per_episode_with_the_whole_id(
    tmp_path: Path, capsys, monkeypatch, columns: int
) -> None:
    drafts = _runs(tmp_path / "data")
    out = _status(tmp_path, capsys, monkeypatch, columns)
    # The title is the only value cut: to the width, less the indent, with an ellipsis
    # (its CJK characters take two cells each, the dashes one): 57 cells and "…" at 60.
    title = {60: "向量数据库与检索增强生成——专访 Leo Park，以及延迟、成本和…", 80: TITLE}[columns]
    blocks = {
        f"{LONG_ID}  done\n"
        f"  {title}\n"
        "  last step: render  tokens: 1234\n"
        f"  draft: {drafts[LONG_ID]}",
        "youtube-abcDEF12345  done\n"
        "  Short\n"
        "  last step: render  tokens: 1234\n"
        f"  draft: {drafts['youtube-abcDEF12345']}",
        "local-talk  failed (transcribe)\n"
        "  Talk\n"
        "  last step: fetch  tokens: 0\n"
        "  error: no speech found in /tmp/talk.mp3; check the file",
    }
    assert out.endswith("\n")
    assert set(out.removesuffix("\n").split("\n\n")) == blocks


def test_a_wide_terminal_gets_the_table_with_whole_ids(tmp_path: Path, capsys, monkeypatch) -> None:
    drafts = _runs(tmp_path / "data")
    out = _status(tmp_path, capsys, monkeypatch, 400)  # wider than the table
    lines = out.splitlines()
    assert lines[1].split("┃")[1:-1] == [
        f" {'id':<{len(LONG_ID)}} ",
        f" {'title':<40} ",
        " last step ",
        f" {'state':<19} ",  # failed (transcribe)
        " review ",
        " tokens ",
        f" {'draft / error':<{len(str(drafts[LONG_ID]))}} ",
    ]
    [row] = [line for line in lines if LONG_ID in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == [
        LONG_ID,
        "向量数据库与检索增强生成——专访 Leo Park…",
        "render",
        "done",
        "-",
        "1234",
        str(drafts[LONG_ID]),
    ]
    assert len(lines) == 3 + 3 + 1  # header (3), one line per row, the bottom border
