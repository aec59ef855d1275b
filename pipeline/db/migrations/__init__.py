"""Alembic migrations of podpost's state, applied by :func:`pipeline.db.open_state`."""
