"""The first schema: the ledger of release 0.x, run records, review records, leases.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of :mod:`pipeline.db.schema` as of this revision."""
    op.create_table(
        "items",
        sa.Column("feed", sa.Text, primary_key=True),
        sa.Column("item", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("episode_id", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Text, nullable=False),
        sa.Column("enclosure", sa.Text),
    )
    op.create_table(
        "sources",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("episode_id", sa.Text, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
    )
    op.create_table(
        "fetch_failures",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("item", sa.Text),
        sa.Column("overrides", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("episode_id", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("step", sa.Text),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.Text),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("draft_key", sa.Text, primary_key=True),
        sa.Column("episode_id", sa.Text),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("info", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "imports",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("imported_at", sa.Text, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """Drop them all."""
    for name in ("imports", "leases", "reviews", "runs", "fetch_failures", "sources", "items"):
        op.drop_table(name)
