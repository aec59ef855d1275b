"""podpost's state database on SQLite and on a real PostgreSQL (tests/pg.py): the schema
its migrations make, the ledger, run records, leases, review generations, the lock taken
before fetch, and the import of a data folder made by the release before it."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.config import Config
from pipeline.db import HEAD, StateDB, lease, open_state, schema, state_url
from pipeline.db.legacy import import_legacy
from pipeline.db.reviews import load_review, save_review
from pipeline.errors import ConfigError, DraftConflictError, SourceError, StorageError
from pipeline.review.record import DraftRecord, load_record
from pipeline.run.episode import run_episode
from pipeline.run.ledger import Ledger
from pipeline.run.progress import Reporter
from pipeline.run.state import EpisodeRun, episode_lock, is_locked, load_state, run_records
from pipeline.run.status import status

LEGACY = Path(__file__).parent / "fixtures" / "legacy_data" / "data"


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """A data folder whose state is in SQLite (the default) or in a new PostgreSQL database."""
    if request.param == "sqlite":
        return Config(data_dir=tmp_path / "data")
    url = request.getfixturevalue("pg_url")
    return Config(data_dir=tmp_path / "data", state={"url": url})


@pytest.fixture
def db(config: Config) -> StateDB:
    """The state database of ``config``."""
    return open_state(config)


def test_the_migrations_make_exactly_the_schema_the_code_uses(db: StateDB) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from pipeline.db.core import MIGRATIONS
    from pipeline.db.core import _revision as revision

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD
    with db.engine.connect() as conn:
        assert revision(conn) == HEAD
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []


def test_the_ledger_on_each_database(db: StateDB) -> None:
    ledger = Ledger(db)
    assert ledger.episode_for("http://x") is None
    ledger.remember_source("http://x", "ep-1")
    ledger.remember_source("http://x", "ep-2")
    assert ledger.episode_for("http://x") == "ep-2"
    ledger.record("feed", "a", source="s", title="A", state="failed", error="404")
    ledger.record("feed", "a", source="s", title="A", state="done", episode_id="ep-a",
                  enclosure="http://cdn/a.mp3")  # fmt: skip
    ledger.record("feed", "a", source="s", title="A", state="done")  # keeps id and enclosure
    ledger.record("feed", "b", source="s", title="B", state="failed", error="500")
    items = ledger.items("feed")
    assert {
        k: (v.state, v.attempts, v.episode_id, v.error, v.enclosure) for k, v in items.items()
    } == {
        "a": ("done", 3, "ep-a", None, "http://cdn/a.mp3"),
        "b": ("failed", 1, None, "500", None),
    }
    assert ledger.claims("feed") == {"a": "http://cdn/a.mp3"}
    ledger.adopt_enclosure("feed", "b", "http://cdn/b.mp3")
    ledger.adopt_enclosure("feed", "b", "http://cdn/c.mp3")  # the first adoption stands
    assert ledger.claims("feed") == {"a": "http://cdn/a.mp3", "b": "http://cdn/b.mp3"}
    ledger.record_fetch_failure("k", "http://gone", "i", {"asr": {"model": "tiny"}}, "404")
    ledger.record_fetch_failure("k", "http://gone", "i", {}, "410")  # replaced
    [failure] = ledger.fetch_failures()
    assert (failure.source, failure.item, failure.overrides, failure.error) == (
        "http://gone", "i", {}, "410",
    )  # fmt: skip
    ledger.remember_source("k", "ep-k")  # the source became an episode: failure dropped
    assert ledger.fetch_failures() == []


def test_run_records_and_status_seen_from_another_machine(config: Config, tmp_path: Path) -> None:
    db = open_state(config)
    folder = config.episodes_dir / "ep-1"
    folder.mkdir(parents=True)
    (folder / "transcript.json").write_text('{"a": 1}')
    run = EpisodeRun(db, folder, "ep-1", "http://127.0.0.1/x")
    run.begin()
    run.finish_step("transcribe", "k1", ["transcript.json"], 1.5)
    run.update(title="T", tokens=7, draft_path="drafts/ep-1.md")
    run.done()
    assert EpisodeRun(db, folder, "ep-1").fresh("transcribe", "k1")
    [state] = run_records(db)
    assert (state.episode_id, state.state, state.tokens, state.last_step) == (
        "ep-1", "done", 7, "transcribe",
    )  # fmt: skip
    # another machine: its own data folder, the same [state] url
    elsewhere = Config(data_dir=tmp_path / "elsewhere", state={"url": state_url(config)})
    [row] = status(elsewhere)
    assert (row.id, row.state, row.title, row.draft) == (
        "ep-1", "done", "T", str(elsewhere.drafts_path / "ep-1.md"),
    )  # fmt: skip
    if config.state.url is None:  # by default each data folder has its own database
        assert status(Config(data_dir=tmp_path / "x")) == []


def test_a_lease_is_held_by_one_holder_until_released_or_expired(db: StateDB) -> None:
    me, other = lease.new_holder(), "another-host:1:abc"
    assert lease.acquire(db, "episode:e", me)
    assert lease.acquire(db, "episode:e", me)  # renewing one's own
    assert not lease.acquire(db, "episode:e", other)
    assert lease.holder_of(db, "episode:e").holder == me
    lease.release(db, "episode:e", other)  # not theirs: no-op
    assert lease.holder_of(db, "episode:e").holder == me
    lease.release(db, "episode:e", me)
    assert lease.holder_of(db, "episode:e") is None
    # a holder on another machine that stopped renewing: its lease has expired
    assert lease.acquire(db, "episode:f", other, ttl=-1.0)
    assert lease.holder_of(db, "episode:f") is None
    assert lease.acquire(db, "episode:f", me)
    assert not lease.renew(db, "episode:f", other)  # the old holder learns it lost it
    assert lease.renew(db, "episode:f", me)


def test_a_dead_process_of_this_machine_loses_its_lease_at_once(db: StateDB) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    dead = f"{socket.gethostname()}:{proc.pid}:abc"
    assert lease.acquire(db, "episode:e", dead, ttl=3600)
    assert lease.holder_of(db, "episode:e") is None
    assert not is_locked(db, "e")
    assert lease.acquire(db, "episode:e", lease.new_holder())


def test_only_one_of_many_concurrent_takers_gets_the_lease(db: StateDB) -> None:
    for round_ in range(5):
        name = f"episode:race-{round_}"
        start = threading.Barrier(6)
        won: list[str] = []

        def take(start: threading.Barrier = start, name: str = name, won: list[str] = won) -> None:
            holder = lease.new_holder()
            start.wait()
            if lease.acquire(db, name, holder):
                won.append(holder)

        threads = [threading.Thread(target=take) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        assert lease.holder_of(db, name).holder == won[0]


def test_the_heartbeat_renews_and_a_lost_lease_is_noticed(db: StateDB) -> None:
    lost: list[str] = []
    holder = lease.new_holder()
    assert lease.acquire(db, "episode:h", holder, ttl=30)
    with db.begin() as conn:  # as if its lease had expired and another machine took it
        conn.execute(schema.leases.update().values(holder="another-host:2:x"))
    beats = lease.Lease(db, "episode:h", holder, ttl=30, beat=0.01, on_lost=lost.append)
    beats._thread.join(timeout=30)  # the first renewal finds it gone and stops
    assert (beats.lost, lost) == (True, ["episode:h"])
    beats.stop()
    assert lease.holder_of(db, "episode:h").holder == "another-host:2:x"  # not released


def test_the_lock_refuses_a_second_run_and_names_the_holder(db: StateDB) -> None:
    with episode_lock(db, "ep-1"):
        assert is_locked(db, "ep-1")
        with pytest.raises(DraftConflictError) as err, episode_lock(db, "ep-1"):
            pass
        assert err.value.one_line().startswith(
            f"episode ep-1 is already being processed by process {__import__('os').getpid()} "
            f"on {socket.gethostname()} since "
        )
    assert not is_locked(db, "ep-1")


def test_a_save_is_a_conditional_write_on_the_generation(db: StateDB) -> None:
    assert load_review(db, "drafts/a.md") is None
    assert save_review(db, "drafts/a.md", '{"v": 1}', seen=None, episode_id="a") == 1
    with pytest.raises(DraftConflictError, match="saved by someone else"):
        save_review(db, "drafts/a.md", '{"v": "x"}', seen=None)  # both saw no record
    assert save_review(db, "drafts/a.md", '{"v": 2}', seen=1) == 2
    with pytest.raises(DraftConflictError):
        save_review(db, "drafts/a.md", '{"v": "stale"}', seen=1)  # an editor who saw 1
    stored = load_review(db, "drafts/a.md")
    assert (stored.record, stored.generation, stored.episode_id) == ('{"v": 2}', 2, "a")


def test_the_source_lock_is_taken_before_fetch(config: Config) -> None:
    """A second run of a source whose fetch is under way is refused without fetching."""
    fetching, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_fetch(job: object) -> None:
        calls.append("first")
        fetching.set()
        release.wait(60)
        raise SourceError("stopped by the test", hint="none")

    def counted_fetch(job: object) -> None:
        calls.append("second")
        raise AssertionError("the second run must not fetch")

    errors: list[BaseException] = []

    def first() -> None:
        try:
            run_episode("http://127.0.0.1:9/a.mp3", config, report=Reporter(terminal=False),
                        tasks={"fetch": slow_fetch})  # fmt: skip
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=first)
    thread.start()
    assert fetching.wait(60)
    try:
        with pytest.raises(DraftConflictError) as err:
            run_episode("http://127.0.0.1:9/a.mp3", config, report=Reporter(terminal=False),
                        tasks={"fetch": counted_fetch})  # fmt: skip
    finally:
        release.set()
        thread.join()
    assert err.value.message.startswith(
        "source http://127.0.0.1:9/a.mp3 is already being processed"
    )
    assert calls == ["first"]
    assert [type(e) for e in errors] == [SourceError]


# --- a data folder made by the release before the state database ---------------------------


def _digest_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _legacy_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as old:
        columns = [c.name for c in getattr(schema, table).columns]
        names = {r[1] for r in old.execute(f"PRAGMA table_info({table})")}
        select = ", ".join(c if c in names else "NULL" for c in columns)
        rows = old.execute(f"SELECT {select} FROM {table}").fetchall()
    old.close()
    return sorted(rows, key=repr)


def test_a_data_folder_of_the_last_release_is_imported_with_nothing_lost(config: Config) -> None:
    shutil.copytree(LEGACY, config.data_dir)
    before = _digest_tree(config.data_dir)
    db = open_state(config)

    # the ledger: every row of every table, as it was
    with db.begin() as conn:
        for table in ("items", "sources", "fetch_failures"):
            rows = conn.execute(sa.select(getattr(schema, table))).all()
            assert sorted((tuple(r) for r in rows), key=repr) == _legacy_rows(
                config.data_dir / "ledger.sqlite3", table
            ), table
    # every run.json that parses, field for field, with drafts as storage keys
    for run_file in sorted(config.episodes_dir.glob("*/run.json")):
        if run_file.parent.name == "broken":
            continue
        old = json.loads(run_file.read_text())
        new = load_state(db, run_file.parent.name).model_dump(mode="json")
        for name in ("draft_path", "proposal_path"):
            if old[name] is not None:
                assert new[name] == f"drafts/{Path(old[name]).name}"
                old[name] = new[name]
        assert new == old
    assert load_state(db, "broken") is None
    # every review record, keyed by its draft's storage key
    with db.begin() as conn:
        reviews = {r.draft_key: r for r in conn.execute(sa.select(schema.reviews)).all()}
    assert sorted(reviews) == [
        "drafts/show-ep-a.md",
        "drafts/show-ep-b.md",
        "drafts/show-ep-b.new.md",
    ]
    for key, row in reviews.items():
        old = json.loads(
            (config.drafts_path / Path(key).name).with_suffix(".meta.json").read_text()
        )
        assert row.generation == 1
        assert json.loads(row.record) == {**old, "episode_dir": None}
        # and record.py reads the imported record (no sidecar needed any more)
        record = load_record(db, config.drafts_path / Path(key).name)
        assert record is not None and record.generation == 1
        assert record.model_dump(mode="json", exclude={"generation"}) == (
            DraftRecord.model_validate({**old, "episode_dir": None}).model_dump(mode="json")
        )
    # status reads it all back as the last release showed it
    rows = {r.id or r.source: r for r in status(config)}
    assert {k: (r.state, r.review) for k, r in rows.items()} == {
        "show-ep-a": ("done", "approved"),
        "show-ep-b": ("failed", "edited"),
        "local-talk": ("failed", None),  # killed while running: nobody holds its lease
        "https://www.example.org/gone": ("failed", None),
    }
    assert rows["show-ep-b"].proposal == str(config.drafts_path / "show-ep-b.new.md")
    # the old files are left exactly as they were, and a second import does nothing
    assert _digest_tree(config.data_dir) == {
        **before,
        **{k: v for k, v in _digest_tree(config.data_dir).items() if k.startswith("state.sqlite3")},
    }
    report = import_legacy(db, config.data_dir, config.drafts_path)
    assert (report.done_before, report.rows) == (True, {})
    with db.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.imports)).scalar() == 1


def test_the_import_reports_what_it_could_not_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(LEGACY, data)
    from pipeline.db import open_url

    db = open_url(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    report = import_legacy(db, data, data / "drafts")
    assert report.skipped == ["episodes/broken/run.json (JSONDecodeError)"]
    assert report.rows == {
        "items": 2, "sources": 3, "fetch_failures": 1, "runs": 3, "reviews": 3,
    }  # fmt: skip
    assert (data / "episodes" / "broken" / "run.json").is_file()  # left for a person


@pytest.mark.parametrize(
    ("url", "error", "line"),
    [
        ("not a url", ConfigError, "[state] url is not a database URL; use sqlite:///"),
        ("mysql://u:p@h/x", ConfigError, "[state] url names mysql, a database podpost does not"),
        (
            "postgresql+psycopg://u:secret@127.0.0.1:1/x",
            StorageError,
            "the state database postgresql+psycopg://u:***@127.0.0.1:1/x cannot be used: "
            'connection failed: connection to server at "127.0.0.1", port 1 failed',
        ),
    ],
)
def test_a_state_url_that_cannot_be_used_is_one_line_without_its_password(
    tmp_path: Path, url: str, error: type[Exception], line: str
) -> None:
    with pytest.raises(error) as caught:
        open_state(Config(data_dir=tmp_path / "data", state={"url": url}))
    assert caught.value.one_line().startswith(line)
    assert "secret" not in caught.value.one_line()
    assert not (tmp_path / "data").exists()


def test_two_processes_importing_one_folder_at_once_both_succeed(config: Config) -> None:
    from pipeline.db import open_url

    shutil.copytree(LEGACY, config.data_dir)
    db = open_url(state_url(config))  # opened without the import, to race two of them
    start = threading.Barrier(2)
    reports: list[object] = []

    def run() -> None:
        start.wait()
        reports.append(import_legacy(db, config.data_dir, config.drafts_path))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reports) == 2
    with db.begin() as conn:
        counts = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (schema.items, schema.sources, schema.runs, schema.reviews, schema.imports)
        }
    assert counts == {"items": 2, "sources": 3, "runs": 3, "reviews": 3, "imports": 1}
