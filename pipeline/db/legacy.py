"""Importing a data folder made by an older release (state in files) into the state database.

Before the state database, podpost kept its state in the data folder: the ledger in
``ledger.sqlite3``, each episode's run record in ``episodes/<id>/run.json``, and each
draft's review record in ``<drafts>/<name>.meta.json``. On the first open of a data folder
(:func:`pipeline.db.open_state`) every one of them is copied into the database, in one
transaction, with nothing dropped:

* every row of the three ledger tables, as it is (a ledger from before enclosures were
  kept gets ``enclosure`` NULL);
* every ``run.json`` that parses as JSON, as it is, except that the draft's and the
  proposal's absolute paths become storage keys (``drafts/<name>.md``);
* every ``.meta.json`` that parses, keyed by its draft's storage key, at generation 1
  (its ``episode_dir``, an absolute path, dropped when it is an ``episodes/<id>`` folder of
  its ``episode_id``, which the review finds by the id).

A row the database already has wins (it is newer). The files are left where they are,
never changed or deleted, so an older release still finds them. The import is recorded in
``imports`` under a name derived from the machine and the data folder (never the path
itself), so it runs once per data folder even when several machines share one database.
A file that does not parse is left for a person and named in the returned report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

import pipeline.db.schema as schema
from pipeline.db.core import StateDB

LEDGER_FILE = "ledger.sqlite3"  # the ledger of releases before the state database
RUN_FILE = "run.json"
META_SUFFIX = ".meta.json"
DRAFTS_KEY = "drafts"  # drafts' storage keys: drafts/<name>.md


@dataclass
class ImportReport:
    """What :func:`import_legacy` copied (rows per table) and the files it could not read."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # file names relative to the data folder
    done_before: bool = False


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def import_name(data_dir: Path) -> str:
    """The ``imports`` row of a data folder: a hash of this machine's name and the folder's
    absolute path, so no machine's path is stored."""
    where = f"{socket.gethostname()}:{Path(data_dir).resolve()}"
    return "data-folder:" + hashlib.sha256(where.encode("utf-8")).hexdigest()[:24]


def draft_key(path: str | Path | None, drafts_dir: Path) -> str | None:
    """The storage key (``drafts/<name>.md``) of a draft path a run record kept; a key
    stays as it is; a path outside the drafts folder keeps only its file name."""
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        rel = p.relative_to(drafts_dir.resolve())
    except ValueError:
        try:
            rel = p.relative_to(drafts_dir)
        except ValueError:
            rel = Path(p.name)
    return f"{DRAFTS_KEY}/{rel.as_posix()}"


def import_legacy(db: StateDB, data_dir: Path, drafts_dir: Path) -> ImportReport:
    """Copy the older release's state in ``data_dir`` (and its drafts folder) into ``db``
    once (see the module docstring); a no-op when done before or when there is none."""
    data_dir = Path(data_dir)
    report = ImportReport()
    ledger = data_dir / LEDGER_FILE
    episodes = data_dir / "episodes"
    run_files = sorted(episodes.glob(f"*/{RUN_FILE}")) if episodes.is_dir() else []
    meta_files = sorted(Path(drafts_dir).rglob(f"*{META_SUFFIX}")) if drafts_dir.is_dir() else []
    if not ledger.is_file() and not run_files and not meta_files:
        return report
    name = import_name(data_dir)
    with db.begin() as conn:
        if (
            conn.execute(schema.imports.select().where(schema.imports.c.name == name)).first()
            is not None
        ):
            report.done_before = True
            return report
        if ledger.is_file():
            _import_ledger(db, conn, ledger, report)
        for path in run_files:
            _import_run(db, conn, path, drafts_dir, data_dir, report)
        for path in meta_files:
            _import_review(db, conn, path, drafts_dir, data_dir, report)
        conn.execute(
            # another process importing the same folder at once: its rows and this one's
            # are the same, and neither fails
            db.insert(schema.imports)
            .values(name=name, imported_at=_now(), rows=sum(report.rows.values()))
            .on_conflict_do_nothing()
        )
    return report


def _add(
    db: StateDB, conn: Connection, table: Any, rows: list[dict[str, Any]], report: ImportReport
) -> None:
    if not rows:
        return
    stmt = db.insert(table).on_conflict_do_nothing()
    conn.execute(stmt, rows)
    report.rows[table.name] = report.rows.get(table.name, 0) + len(rows)


def _import_ledger(db: StateDB, conn: Connection, path: Path, report: ImportReport) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as old:
            old.row_factory = sqlite3.Row
            tables = {
                r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            for table in (schema.items, schema.sources, schema.fetch_failures):
                if table.name not in tables:
                    continue
                have = {r[1] for r in old.execute(f"PRAGMA table_info({table.name})")}
                columns = [c.name for c in table.columns]
                rows = [
                    {c: row[c] if c in have else None for c in columns}
                    for row in old.execute(f"SELECT * FROM {table.name}")
                ]
                _add(db, conn, table, rows, report)
    except sqlite3.Error as e:
        report.skipped.append(f"{LEDGER_FILE} ({e})")


def _import_run(
    db: StateDB,
    conn: Connection,
    path: Path,
    drafts_dir: Path,
    data_dir: Path,
    report: ImportReport,
) -> None:
    try:
        record = json.loads(path.read_bytes())
        episode_id = record.get("episode_id") or path.parent.name
    except (OSError, ValueError, AttributeError) as e:
        report.skipped.append(f"{path.relative_to(data_dir)} ({type(e).__name__})")
        return
    for name in ("draft_path", "proposal_path"):
        record[name] = draft_key(record.get(name), drafts_dir)
    row = {
        "episode_id": episode_id,
        "state": str(record.get("state") or "pending"),
        "step": record.get("step"),
        "title": str(record.get("title") or ""),
        "updated_at": record.get("updated_at"),
        "record": json.dumps(record, ensure_ascii=False),
    }
    _add(db, conn, schema.runs, [row], report)


def _import_review(
    db: StateDB,
    conn: Connection,
    path: Path,
    drafts_dir: Path,
    data_dir: Path,
    report: ImportReport,
) -> None:
    draft = path.with_name(path.name[: -len(META_SUFFIX)] + ".md")
    try:
        record = json.loads(path.read_bytes())
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as e:
        where = path.relative_to(drafts_dir) if path.is_relative_to(drafts_dir) else path.name
        report.skipped.append(f"{DRAFTS_KEY}/{where} ({type(e).__name__})")
        return
    episode_dir, episode_id = record.get("episode_dir"), record.get("episode_id")
    if episode_dir and episode_id and Path(episode_dir).parts[-2:] == ("episodes", episode_id):
        record["episode_dir"] = None  # a machine's path to what the episode id names
    row = {
        "draft_key": draft_key(draft, drafts_dir),
        "episode_id": record.get("episode_id"),
        "generation": 1,
        "record": json.dumps(record, ensure_ascii=False),
        "updated_at": record.get("generated_at") or _now(),
    }
    _add(db, conn, schema.reviews, [row], report)
