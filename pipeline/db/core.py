"""Opening podpost's state database: the engine, its migrations, and its errors.

:func:`pipeline.db.open_state` gives the :class:`StateDB` of a config's ``[state] url`` (default
``sqlite:///<data_dir>/state.sqlite3``). On the first open in a process the Alembic
migrations in ``pipeline/db/migrations`` bring the schema to :data:`HEAD` (one set for
SQLite and PostgreSQL; several processes opening a new database at once take turns: a
file lock beside a SQLite file, an advisory lock on PostgreSQL), and a data folder made by
an older release is imported (:mod:`pipeline.db.legacy`). Every later open is a lookup.

Connections are short: each :meth:`StateDB.begin` takes one from the engine's pool and
commits when the block ends. SQLite waits up to 60 s for a writer to finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from pipeline.config import Config
from pipeline.errors import ConfigError, StorageError
from pipeline.faults import disk_full

HEAD = "0001"  # the newest migration (pipeline/db/migrations/versions); a test checks it
STATE_FILE = "state.sqlite3"  # the default database, in the data folder
MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATE_LOCK_KEY = 0x706F64706F7374  # "podpost": PostgreSQL advisory lock while migrating
_SERVER_HINT = "check [state] url (PODPOST_STATE__URL) and that the database server answers"
_FILE_HINT = (
    "if another podpost holds it, wait and rerun; if it is damaged, move it away (podpost "
    "starts a new one and forgets what ran)"
)


def state_url(config: Config) -> str:
    """The state database's SQLAlchemy URL: ``[state] url``, else SQLite in the data folder."""
    if config.state.url:
        return config.state.url
    return f"sqlite:///{config.data_dir / STATE_FILE}"


def has_state(config: Config) -> bool:
    """Whether ``config`` has a state database to read: always for a server; for the
    default SQLite file, when it (or an older release's ledger to import) exists. Lets
    read-only commands leave a fresh data folder uncreated."""
    url = parse_url(state_url(config))
    if url.get_backend_name() != "sqlite" or not url.database:
        return True
    return Path(url.database).is_file() or (config.data_dir / "ledger.sqlite3").is_file()


class StateDB:
    """One state database (SQLite file or PostgreSQL server) and how to use it.

    :meth:`begin` yields a connection inside a transaction; every SQLAlchemy error in it is
    raised as a :class:`~pipeline.errors.StorageError` that names the database (never its
    password) and says what to do.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url
        self.dialect = engine.dialect.name
        self.where = self.url.render_as_string(hide_password=True)
        self.path = (
            Path(self.url.database) if self.dialect == "sqlite" and self.url.database else None
        )

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as e:
            raise self.error(e) from e

    def error(self, e: BaseException) -> StorageError:
        """The one-line :class:`StorageError` for a database error ``e``."""
        orig = getattr(e, "orig", None) or e
        if self.path is not None and (full := disk_full(self.path, orig)) is not None:
            return full
        text = " ".join(str(orig).split()) or type(orig).__name__
        hint = _FILE_HINT if self.dialect == "sqlite" else _SERVER_HINT
        return StorageError(f"the state database {self.where} cannot be used: {text}", hint=hint)

    def now(self, conn: Connection) -> float:
        """The database server's clock (seconds since the epoch): one clock for every
        machine's leases. SQLite's is this machine's."""
        if self.dialect == "postgresql":
            return float(
                conn.execute(sa.text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
            )
        return time.time()

    def insert(self, table: sa.Table) -> Any:
        """An INSERT of ``table`` with ``on_conflict_do_update/nothing`` (upsert), in the
        database's own dialect."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)


_opened: dict[str, StateDB] = {}
_open_lock = threading.Lock()


def open_url(url: str) -> StateDB:
    """The state database at SQLAlchemy ``url``, its schema migrated to :data:`HEAD`."""
    with _open_lock:
        db = _opened.get(url)
        if db is None:
            db = StateDB(_engine(url))
            _migrate(db)
            _opened[url] = db
        return db


def parse_url(url: str) -> URL:
    """``url`` parsed; :class:`ConfigError` when it is no database URL."""
    try:
        return make_url(url)
    except sa_exc.ArgumentError as e:
        raise ConfigError(
            "[state] url is not a database URL",
            hint="use sqlite:////path/state.sqlite3 or postgresql+psycopg://user:pass@host/db",
        ) from e


def close_url(url: str) -> None:
    """Close the pooled connections to the database at ``url`` and forget it (the next
    open checks its schema again): for tests that drop a database, and for long-lived
    processes done with one."""
    with _open_lock:
        db = _opened.pop(url, None)
    if db is not None:
        db.engine.dispose()


def _engine(url: str) -> Engine:
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"[state] url names {backend}, a database podpost does not support",
            hint="use sqlite:///... or postgresql+psycopg://...",
        )
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(
                    f"cannot create the folder of the state database {folder}: {e.strerror or e}",
                    hint="check the data folder ([data_dir]) and its permissions",
                ) from e
        # A connection per use: several processes share the file, and SQLite waits for
        # a writer up to the timeout instead of failing at once.
        return sa.create_engine(parsed, poolclass=NullPool, connect_args={"timeout": 60})
    try:
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=8)
    except (ImportError, sa_exc.NoSuchModuleError) as e:
        raise ConfigError(
            f"[state] url needs a driver that is not installed: {e}",
            hint="use postgresql+psycopg:// (psycopg 3 is installed with podpost)",
        ) from e


def _revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _migrate(db: StateDB) -> None:
    """Bring the schema to :data:`HEAD`; nothing to do (one query) when it is there."""
    try:
        with db.engine.connect() as conn:
            if _revision(conn) == HEAD:
                return
        if db.dialect == "postgresql":
            with db.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATE_LOCK_KEY})
                conn.commit()
                try:
                    _upgrade(conn)
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATE_LOCK_KEY})
                    conn.commit()
            return
        from filelock import FileLock

        lock = f"{db.path}.migrate.lock" if db.path else None
        with FileLock(lock) if lock else _nothing(), db.engine.connect() as conn:
            _upgrade(conn)
    except sa_exc.SQLAlchemyError as e:
        raise db.error(e) from e


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _upgrade(conn: Connection) -> None:
    if _revision(conn) == HEAD:  # another process migrated while this one waited
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
    conn.commit()
