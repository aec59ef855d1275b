"""The tables of podpost's state (SQLAlchemy Core), one set for SQLite and PostgreSQL.

* ``items``, ``sources``, ``fetch_failures``: the ingestion ledger (:mod:`pipeline.run.ledger`).
* ``runs``: one row per episode, what ``run.json`` held (:class:`pipeline.run.state.RunState`
  as JSON in ``record``), with the columns ``podpost status`` sorts and filters on.
* ``reviews``: each draft's review record (what ``<name>.meta.json`` held), keyed by the
  draft's storage key (``drafts/<id>.md``), with a ``generation`` that every save bumps, so
  a save is a conditional write (``UPDATE ... WHERE generation = :seen``).
* ``leases``: locks with an expiry (an episode's run, a source's fetch): a holder renews
  its lease while alive; a dead holder's lease expires and another may take it.
* ``imports``: which files of an older release's data folder were imported (so the import
  runs once).

The migrations in ``pipeline/db/migrations`` create and change these tables; this module
is what the code reads and writes, and a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("feed", Text, primary_key=True),
    Column("item", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("episode_id", Text),
    Column("state", Text, nullable=False),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("updated", Text, nullable=False),
    Column("enclosure", Text),
)

sources = Table(
    "sources",
    metadata,
    Column("source", Text, primary_key=True),
    Column("episode_id", Text, nullable=False),
    Column("updated", Text, nullable=False),
)

fetch_failures = Table(
    "fetch_failures",
    metadata,
    Column("source", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("item", Text),
    Column("overrides", Text, nullable=False),  # JSON
    Column("error", Text, nullable=False),
    Column("updated", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("episode_id", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("step", Text),
    Column("title", Text, nullable=False, server_default=""),
    Column("updated_at", Text),
    Column("record", Text, nullable=False),  # RunState as JSON
)

reviews = Table(
    "reviews",
    metadata,
    Column("draft_key", Text, primary_key=True),  # relative to the storage root
    Column("episode_id", Text),
    Column("generation", Integer, nullable=False),
    Column("record", Text, nullable=False),  # DraftRecord as JSON
    Column("updated_at", Text, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("expires_at", Float, nullable=False),  # seconds since the epoch (the DB's clock)
    Column("acquired_at", Float, nullable=False),
    Column("info", Text, nullable=False, server_default=""),  # who: pid, host, since
)

imports = Table(
    "imports",
    metadata,
    Column("name", Text, primary_key=True),
    Column("imported_at", Text, nullable=False),
    Column("rows", Integer, nullable=False),
)
