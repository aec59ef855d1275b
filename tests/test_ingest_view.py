"""`podpost ingest` prints every draft path whole, whatever the terminal's width: only
titles are cut (as `podpost status` does)."""

from __future__ import annotations

import io

from rich.console import Console

from pipeline.cli.ingest_view import print_summary

DRAFT = "/home/editor/podpost-data/drafts/feed-97b2c0f2c4236a1bd5e6f7a8b9c0d1e2-2026-03-02.md"
TITLE = "向量数据库与检索增强生成——专访 Leo Park，以及延迟、成本和索引"
ERROR = "https://media.example.com/ep3.mp3 is not found (HTTP 404); check the URL"


def _summary() -> dict:
    items = [
        {"guid": "g1", "title": TITLE, "state": "new", "draft": DRAFT, "error": None},
        {"guid": "g2", "title": "", "state": "failed", "draft": None, "error": ERROR},
        {"guid": "g3", "title": "Old", "state": "done-before", "draft": "/d/old.md"},
        {"guid": "g4", "title": "Later", "state": "not-taken", "draft": None, "error": None},
    ]
    return {"new": 1, "needs_review": 0, "failed": 1, "done_before": 1, "items": items}


def _printed(width: int) -> str:
    out = io.StringIO()
    print_summary(_summary(), Console(file=out, width=width, soft_wrap=True, color_system=None))
    return out.getvalue()


TOTALS = "1 new drafts, 0 needing review, 1 failed, 1 done before\n"


def test_a_narrow_terminal_gets_one_block_per_item_with_the_whole_path():
    assert _printed(60) == (
        "new  向量数据库与检索增强生成——专访 Leo Park，以及延迟、成 …\n"  # 55 cells
        f"  draft: {DRAFT}\n"
        "failed  g2\n"
        f"  error: {ERROR}\n"
        "not-taken  Later\n" + TOTALS
    )


def test_a_wide_terminal_gets_the_table_with_the_whole_path():
    out = _printed(220)
    assert DRAFT in out and ERROR in out
    assert "…" in out  # the title, cut to 40 cells
    assert "/d/old.md" not in out  # done before: counted, not listed
    assert out.endswith(TOTALS)
