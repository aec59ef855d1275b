"""Alembic's environment: podpost runs its migrations on the connection it passes in
(``config.attributes["connection"]``), never from an ``alembic.ini``."""

from __future__ import annotations

from alembic import context

from pipeline.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
