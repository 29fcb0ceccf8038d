"""Hourly and daily rollups of probe results, and the mark of what they already count.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("n_up", sa.BigInteger(), nullable=False),
        sa.Column("n_degraded", sa.BigInteger(), nullable=False),
        sa.Column("n_down", sa.BigInteger(), nullable=False),
        sa.Column("n_maintenance", sa.BigInteger(), nullable=False),
        sa.Column("n_unknown", sa.BigInteger(), nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum_us", sa.BigInteger(), nullable=False),
        sa.Column("latency_min", sa.Float(), nullable=True),
        sa.Column("latency_max", sa.Float(), nullable=True),
        sa.Column("latency_p95", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("period", "channel", "check", "bucket_start"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_marks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("rollup_marks")
    op.drop_table("rollups")
