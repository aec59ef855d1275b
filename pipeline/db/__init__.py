"""podpost's own state in a database: the ledger, run records, review records and leases.

SQLAlchemy Core tables (:mod:`pipeline.db.schema`) and Alembic migrations shipped in the
package, applied when a database is first opened: one code path for the default SQLite
file in the data folder and for PostgreSQL (``[state] url``; docs/state.md). This package
is a side-effect edge of the ground layer, like the store: it imports only ground modules
(config, errors, faults), and the run layer and the review stage build on it.
"""

from __future__ import annotations

import threading

from pipeline.config import Config
from pipeline.db.core import HEAD, STATE_FILE, StateDB, has_state, open_url, state_url
from pipeline.db.legacy import import_legacy

_imported: set[tuple[str, str]] = set()
_import_lock = threading.Lock()


def open_state(config: Config) -> StateDB:
    """The state database of ``config`` (``[state] url``), migrated, with the data folder of
    an older release imported into it once (:func:`pipeline.db.legacy.import_legacy`)."""
    url = state_url(config)
    db = open_url(url)
    key = (url, str(config.data_dir))
    with _import_lock:
        if key not in _imported:
            import_legacy(db, config.data_dir, config.drafts_path)
            _imported.add(key)
    return db


__all__ = [
    "HEAD",
    "STATE_FILE",
    "StateDB",
    "has_state",
    "import_legacy",
    "open_state",
    "open_url",
    "state_url",
]
