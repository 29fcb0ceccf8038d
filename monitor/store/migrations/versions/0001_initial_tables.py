"""Initial tables: probe results, channel states, transitions and incidents.

The same schema the versions before migrations made with create_all: such a database is stamped at this
revision (monitor.store.db.BASELINE) instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("facts", sa.String(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("channel_state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_probe_results_channel_at", "probe_results", ["channel", "at"])
    op.create_table(
        "channel_states",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("old_state", sa.String(length=16), nullable=False),
        sa.Column("new_state", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transitions_channel_at", "transitions", ["channel", "at"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("cause", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_channel_open", "incidents", ["channel", "ended_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_incidents_channel_open", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_transitions_channel_at", table_name="transitions")
    op.drop_table("transitions")
    op.drop_table("channel_states")
    op.drop_index("ix_probe_results_channel_at", table_name="probe_results")
    op.drop_table("probe_results")
