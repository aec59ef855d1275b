"""Run state, step freshness, the episode lock, draft writing and the ledger (no Prefect)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.db import StateDB, open_state
from pipeline.errors import DraftConflictError
from pipeline.review.drafts import write_draft
from pipeline.run.ledger import Ledger
from pipeline.run.state import EpisodeRun, episode_lock, is_locked, load_state
from pipeline.run.status import status


def _db(data: Path) -> StateDB:
    return open_state(Config(data_dir=data))


def test_step_is_fresh_only_with_same_key_and_untouched_outputs(tmp_path: Path) -> None:
    (tmp_path / "transcript.json").write_text('{"a": 1}')
    db = _db(tmp_path)
    run = EpisodeRun(db, tmp_path, "ep-1", "http://127.0.0.1/x")
    run.begin()
    run.finish_step("transcribe", "k1", ["transcript.json"], 1.5)

    again = EpisodeRun(db, tmp_path, "ep-1")
    assert again.fresh("transcribe", "k1")
    assert not again.fresh("transcribe", "k2")  # a setting changed
    assert not again.fresh("turns", "k1")  # never ran
    (tmp_path / "transcript.json").write_text('{"a": 2}')  # edited by hand
    assert not again.fresh("transcribe", "k1")
    (tmp_path / "transcript.json").unlink()  # deleted
    assert not again.fresh("transcribe", "k1")


def test_state_transitions_are_persisted(tmp_path: Path) -> None:
    db = _db(tmp_path)
    run = EpisodeRun(db, tmp_path, "ep-1", "src")
    run.begin()
    assert load_state(db, "ep-1").state == "running"
    run.start_step("fetch")
    run.finish_step("fetch", "k", [], 0.1)
    run.start_step("transcribe")
    run.fail("transcribe", "boom; fix it")
    state = load_state(db, "ep-1")
    assert (state.state, state.step, state.error, state.last_step) == (
        "failed",
        "transcribe",
        "boom; fix it",
        "fetch",
    )
    run.begin()
    run.done()
    state = load_state(db, "ep-1")
    assert (state.state, state.error, state.pid) == ("done", None, None)


def test_second_lock_refuses_with_holder_then_frees(tmp_path: Path) -> None:
    db = _db(tmp_path)
    run = EpisodeRun(db, tmp_path, "ep-1")
    with episode_lock(db, "ep-1"):
        run.begin()
        assert is_locked(db, "ep-1")
        with pytest.raises(DraftConflictError) as err, episode_lock(db, "ep-1"):
            pass
        assert f"by process {os.getpid()}" in err.value.one_line()
        assert "--wait" in err.value.one_line()
    assert not is_locked(db, "ep-1")
    with episode_lock(db, "ep-1"):
        pass


def _holder(data: Path) -> subprocess.Popen[str]:
    """A process holding episode ep-1's lock in the state database of data folder ``data``."""
    folder = data / "episodes" / "ep-1"
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from pipeline.config import Config
        from pipeline.db import open_state
        from pipeline.run.state import EpisodeRun, episode_lock
        db = open_state(Config(data_dir=Path({str(data)!r})))
        with episode_lock(db, "ep-1"):
            run = EpisodeRun(db, Path({str(folder)!r}), "ep-1", "src")
            run.begin()
            run.start_step("editorial")
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_killed_run_reads_as_interrupted_and_lock_is_free(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    db = open_state(config)
    proc = _holder(tmp_path)
    try:
        [row] = status(config)
        assert (row.state, row.step) == ("running", "editorial")
        with (
            pytest.raises(DraftConflictError, match=f"process {proc.pid}"),
            episode_lock(db, "ep-1"),
        ):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [row] = status(config)
    assert row.state == "failed"
    assert row.error == f"interrupted during editorial (process {proc.pid} is gone)"
    with episode_lock(db, "ep-1"):
        pass


def test_waiting_lock_queues_behind_the_holder(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    started = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 1; kill {proc.pid}"])
    with episode_lock(_db(tmp_path), "ep-1", wait=True):
        assert time.monotonic() - started >= 0.9
    proc.wait()


def test_draft_written_then_kept_when_edited(tmp_path: Path) -> None:
    first = write_draft(tmp_path, "ep-1", "v1", db=_db(tmp_path))
    assert first.path == tmp_path / "ep-1.md" and first.kept is None
    second = write_draft(tmp_path, "ep-1", "v2", db=_db(tmp_path))  # not edited: overwritten
    assert second.path == tmp_path / "ep-1.md" and second.path.read_text() == "v2"

    (tmp_path / "ep-1.md").write_text("v2 with a human fix")
    third = write_draft(tmp_path, "ep-1", "v3", db=_db(tmp_path))
    assert third.kept == tmp_path / "ep-1.md"
    assert third.path == tmp_path / "ep-1.new.md"
    assert (tmp_path / "ep-1.md").read_text() == "v2 with a human fix"
    assert third.path.read_text() == "v3"
    assert "edited by hand" in third.message and str(third.path) in third.message
    # The new version beside it is ours and unedited, so a later run replaces it.
    fourth = write_draft(tmp_path, "ep-1", "v4", db=_db(tmp_path))
    assert fourth.path == tmp_path / "ep-1.new.md" and fourth.path.read_text() == "v4"


def test_draft_never_clobbers_a_file_podpost_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "ep-1.md").write_text("someone else's")
    result = write_draft(tmp_path, "ep-1", "ours", db=_db(tmp_path))
    assert result.path == tmp_path / "ep-1.new.md"
    assert (tmp_path / "ep-1.md").read_text() == "someone else's"


def test_ledger_items_and_sources(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    assert ledger.episode_for("http://x") is None
    ledger.remember_source("http://x", "ep-1")
    ledger.remember_source("http://x", "ep-2")
    assert ledger.episode_for("http://x") == "ep-2"

    ledger.record("feed", "a", source="s-a", title="A", state="failed", error="404")
    ledger.record("feed", "a", source="s-a", title="A", state="done", episode_id="ep-a")
    ledger.record("feed", "b", source="s-b", title="B", state="failed", error="500")
    items = Ledger(tmp_path / "ledger.sqlite3").items("feed")
    assert {k: (v.state, v.attempts, v.episode_id, v.error) for k, v in items.items()} == {
        "a": ("done", 2, "ep-a", None),
        "b": ("failed", 1, None, "500"),
    }
    assert Ledger(tmp_path / "ledger.sqlite3").items("other") == {}


def test_status_rows_as_json(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    run = EpisodeRun(open_state(config), config.episodes_dir / "ep-1", "ep-1", "src")
    run.begin()
    run.update(title="T", tokens=120)
    run.finish_step("fetch", "k", [], 0.1)
    run.done()
    [row] = status(config)
    data = json.loads(row.model_dump_json())
    assert {k: data[k] for k in ("id", "title", "last_step", "state", "tokens", "error")} == {
        "id": "ep-1",
        "title": "T",
        "last_step": "fetch",
        "state": "done",
        "tokens": 120,
        "error": None,
    }


def test_the_message_a_failed_run_keeps() -> None:
    from pipeline.errors import SourceError
    from pipeline.run.state import message

    assert message(KeyboardInterrupt()) == "interrupted (Ctrl-C); `podpost resume` finishes it"
    assert message(SourceError("x is gone", hint="check the URL")) == "x is gone; check the URL"
    # the line the CLI prints, less its --debug hint; never a multi-line str(e)
    assert message(ValueError("bad\n  more detail")) == "unexpected ValueError: bad"
    assert message(OSError(13, "Permission denied", "/data/x")) == "Permission denied: /data/x"


def test_an_approved_draft_is_kept_and_a_rerun_proposes_beside_it(tmp_path: Path) -> None:
    from pipeline.review.record import record_decision

    first = write_draft(tmp_path, "ep-1", "v1", db=_db(tmp_path))
    record_decision(_db(tmp_path), first.path, "approved", "v1", target=tmp_path / "site" / "p.md")
    second = write_draft(tmp_path, "ep-1", "v2", db=_db(tmp_path))
    assert (second.path, second.kept, second.approved) == (
        tmp_path / "ep-1.new.md",
        first.path,
        True,
    )
    assert first.path.read_text() == "v1" and second.path.read_text() == "v2"
    assert second.message.startswith(f"{first.path} was approved, so it was kept as published;")


def test_status_of_an_older_run_json_that_names_the_new_md_as_draft(tmp_path: Path) -> None:
    """run.json written before proposals were kept apart: the draft is the one beside."""
    config = Config(data_dir=tmp_path)
    write_draft(config.drafts_path, "ep-1", "v1", db=open_state(config))
    (config.drafts_path / "ep-1.md").write_text("edited by hand")
    beside = write_draft(config.drafts_path, "ep-1", "v2", db=open_state(config))
    run = EpisodeRun(open_state(config), config.episodes_dir / "ep-1", "ep-1", "src")
    run.begin()
    run.update(draft_path=str(beside.path))  # as an older podpost recorded it
    run.done()
    [row] = status(config)
    assert (row.draft, row.review, row.proposal, row.proposal_review) == (
        str(config.drafts_path / "ep-1.md"),
        "edited",
        str(config.drafts_path / "ep-1.new.md"),
        "drafted",
    )
