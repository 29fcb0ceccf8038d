"""64-bit ids for the tables that grow with every result or event.

probe_results.id counts every probe run ever made: 2,000 checks at a 1 s interval reach the 32-bit
limit (2,147,483,647) in 12 days. SQLite's INTEGER PRIMARY KEY is already 64-bit, so this changes
PostgreSQL only: the column, and the sequence behind it (a SERIAL's sequence is AS integer and would
stop at the same limit).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("probe_results", "transitions", "incidents", "maintenance_windows")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.alter_column(table, "id", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
        op.execute(f"ALTER SEQUENCE IF EXISTS {table}_id_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER SEQUENCE IF EXISTS {table}_id_seq AS integer")
        op.alter_column(table, "id", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
