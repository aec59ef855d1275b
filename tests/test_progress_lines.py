"""Progress away from a terminal (logs, CI, a pipe): a bar is plain lines at every quarter,
and its 100% line is always printed when the work finished, even when the last report fell
short of the estimate (speech that ends before the duration ffprobe gave)."""

from __future__ import annotations

import io

import pytest

from pipeline.run.progress import Reporter


def _plain() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(stream=out, terminal=False), out


def test_a_bar_that_finishes_short_of_its_total_still_says_100():
    report, out = _plain()
    with report.bar("transcription (audio seconds)", 100.0) as update:
        for done in (10.0, 30.0, 55.0, 80.0, 97.5):
            update(done)
    assert out.getvalue().splitlines() == [
        "transcription (audio seconds): 25%",
        "transcription (audio seconds): 50%",
        "transcription (audio seconds): 75%",
        "transcription (audio seconds): 100%",
    ]


def test_a_bar_that_reached_its_total_says_100_once():
    report, out = _plain()
    with report.bar("translation chunks", None) as update:
        for done in (1, 2, 3, 4, 5):
            update(done, 4)  # a count past the total is still 100%, once
    assert out.getvalue().splitlines() == [
        "translation chunks: 25%",
        "translation chunks: 50%",
        "translation chunks: 75%",
        "translation chunks: 100%",
    ]


def test_a_bar_whose_work_failed_does_not_say_100():
    report, out = _plain()
    with pytest.raises(RuntimeError), report.bar("download", 1000) as update:
        update(800)
        raise RuntimeError("connection reset")
    assert out.getvalue().splitlines() == ["download: 75%"]  # one line per report


def test_a_bar_without_a_total_prints_no_percentages():
    report, out = _plain()
    with report.bar("download", None) as update:
        update(5000)
    assert out.getvalue() == ""
