"""Alembic migrations of the database schema; see 'Changing the database schema' in the README."""
