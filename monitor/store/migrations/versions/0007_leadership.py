"""Scale-out groundwork: who leads a singleton role (and its fencing epoch), the probers' heartbeats, leases, and
which relay claimed a failover action until when; and where each probe result was taken.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leadership",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "probers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


    op.add_column("probe_results", sa.Column("location", sa.String(length=64), nullable=False, server_default="local"))
    op.add_column("failover_actions", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.add_column("failover_actions", sa.Column("claim_until", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("failover_actions") as batch:
        batch.drop_column("claim_until")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("probe_results") as batch:
        batch.drop_column("location")
    op.drop_table("leases")
    op.drop_table("probers")
    op.drop_table("leadership")
