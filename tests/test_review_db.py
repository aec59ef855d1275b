"""Review records in the state database: two data folders sharing one ``[state] url`` (two
machines) read and write one record per draft, and a write made from a stale read is
refused, on SQLite and on a real PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline.config import Config
from pipeline.db import open_state
from pipeline.errors import DraftConflictError
from pipeline.post.render import render_post
from pipeline.review.publish import approve
from pipeline.review.record import (
    generation_record,
    load_record,
    record_decision,
    record_key,
    review_state,
    save_record,
)
from pipeline.store import Store
from tests.cli_helpers import cli
from tests.fixtures.review import clean_post

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One state database URL: a SQLite file outside both data folders, or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'state.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


def _machine(tmp_path: Path, name: str, url: str) -> Config:
    """A machine: its own data folder (no shared disk), the shared state database."""
    return Config(data_dir=tmp_path / name, state={"url": url})


def _draft(config: Config, text: str) -> Path:
    path = config.drafts_path / "show-ep.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_a_decision_on_one_machine_is_seen_on_another(tmp_path: Path, state: str) -> None:
    text = render_post(clean_post())
    one, two = _machine(tmp_path, "one", state), _machine(tmp_path, "two", state)
    draft_one = _draft(one, text)
    generation_record(open_state(one), draft_one, text, episode_id="show-ep")
    draft_two = _draft(two, text)  # the same draft, as the storage brings it to machine two
    assert review_state(open_state(two), draft_two) == "drafted"

    site = tmp_path / "site"
    site.mkdir()
    result = approve(draft_one, site, db=open_state(one), now=NOW)

    record = load_record(open_state(two), draft_two)
    assert record is not None
    assert (record.generation, record.episode_id) == (2, "show-ep")
    assert [(d.state, d.target) for d in record.decisions] == [("approved", str(result.target))]
    assert review_state(open_state(two), draft_two) == "approved"
    # and no sidecar: the record is only in the database
    assert not list(one.drafts_path.glob("*.meta.json"))
    assert not list(two.drafts_path.glob("*.meta.json"))


def test_a_write_from_a_stale_read_is_refused(tmp_path: Path, state: str) -> None:
    text = render_post(clean_post())
    one, two = _machine(tmp_path, "one", state), _machine(tmp_path, "two", state)
    draft_one, draft_two = _draft(one, text), _draft(two, text)
    generation_record(open_state(one), draft_one, text, episode_id="show-ep")
    seen_one = load_record(open_state(one), draft_one)
    seen_two = load_record(open_state(two), draft_two)
    assert seen_one is not None and seen_two is not None
    assert seen_one.generation == seen_two.generation == 1

    # editor two decides first; editor one's decision, made on what it read, is refused
    record_decision(open_state(two), draft_two, "rejected", text, reason="wrong", record=seen_two)
    with pytest.raises(DraftConflictError, match=r"drafts/show-ep\.md was saved by someone else"):
        record_decision(open_state(one), draft_one, "approved", text, record=seen_one)
    # a save of a stale record (the preview's turns) is refused the same way
    seen_one.turns = []
    with pytest.raises(DraftConflictError):
        save_record(open_state(one), draft_one, seen_one)

    record = load_record(open_state(one), draft_one)
    assert record is not None and record.generation == 2
    assert [(d.state, d.reason) for d in record.decisions] == [("rejected", "wrong")]
    assert record.turns is None
    # reloaded, the write goes through
    record_decision(open_state(one), draft_one, "rejected", text, reason="still", record=record)
    assert review_state(open_state(two), draft_two) == "rejected"


def test_an_older_sidecar_is_read_until_the_first_save(tmp_path: Path) -> None:
    """A draft the import has not seen (its sidecar came later) is read from
    ``<name>.meta.json``; the first save puts it into the database, and the sidecar is
    left as it was."""
    text = render_post(clean_post())
    config = Config(data_dir=tmp_path / "data")
    db = open_state(config)  # the import ran: nothing to import yet
    draft = _draft(config, text)
    other = tmp_path / "elsewhere"
    other.mkdir()
    generation_record(open_state(Config(data_dir=other)), other / draft.name, text)
    sidecar = draft.with_name("show-ep.meta.json")
    stored = load_record(open_state(Config(data_dir=other)), other / draft.name)
    assert stored is not None
    sidecar.write_text(stored.model_dump_json(), "utf-8")
    before = sidecar.read_bytes()

    assert review_state(db, draft) == "drafted"
    record_decision(db, draft, "approved", text)
    assert sidecar.read_bytes() == before
    record = load_record(db, draft)
    assert record is not None and record.generation == 1
    assert record.generated_sha256 == stored.generated_sha256
    assert review_state(db, draft) == "approved"


def test_record_keys_are_storage_keys(tmp_path: Path) -> None:
    assert record_key(tmp_path / "drafts" / "show-ep.md") == "drafts/show-ep.md"
    assert record_key(tmp_path / "episodes" / "show-ep" / "draft.md") == (
        "episodes/show-ep/draft.md"
    )


def test_the_store_moves_no_sidecar(tmp_path: Path) -> None:
    """An older release's ``.meta.json`` stays on the machine: never pushed."""
    remote = tmp_path / "bucket"
    local = tmp_path / "work"
    (local / "drafts").mkdir(parents=True)
    draft = local / "drafts" / "show-ep.md"
    draft.write_text("text", "utf-8")
    draft.with_name("show-ep.meta.json").write_text("{}", "utf-8")
    (remote / "drafts").mkdir(parents=True)
    Store(local, f"file://{remote}").push_draft(draft)
    assert sorted(p.name for p in (remote / "drafts").iterdir()) == ["show-ep.md"]


def test_approve_on_one_machine_then_reject_on_another_from_the_cli(
    tmp_path: Path, state: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """`podpost approve` with one data folder, `podpost review` and `reject` with another
    that shares only the state URL (the draft copied as the storage would bring it)."""
    monkeypatch.chdir(tmp_path)  # no stray podpost.toml
    monkeypatch.setenv("PODPOST_STATE__URL", state)
    text = render_post(clean_post())
    one, two = _machine(tmp_path, "one", state), _machine(tmp_path, "two", state)
    generation_record(open_state(one), _draft(one, text), text)
    _draft(two, text)
    site = tmp_path / "site"
    site.mkdir()

    def podpost(config: Config, *args: str) -> tuple[int, str, str]:
        return cli(["--data-dir", str(config.data_dir), *args], capsys)

    code, out, err = podpost(one, "approve", "show-ep", "--to", str(site), "--override")
    assert code == 0, err
    code, out, err = podpost(two, "review", "show-ep", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "approved"
    # the approval is published: machine two's rejection is refused, in one line
    code, out, err = podpost(two, "reject", "show-ep", "--reason", "wrong guest")
    assert code == 7 and err.startswith("error: show-ep.md is published as "), err
    assert len(err.strip().splitlines()) == 1
