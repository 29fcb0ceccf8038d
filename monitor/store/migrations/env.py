"""Alembic's environment: run the migrations on the connection channel-monitor passes in (monitor.store.db),
or, for the `alembic` command (revision --autogenerate, history, ...), on the database given by
`-x url=...` or CM_DATABASE_URL.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from monitor.store import models  # noqa: F401  (every table on SQLModel.metadata)

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write SQLModel's AutoString as plain sa.String, so migrations import only SQLAlchemy."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        compare_type=True,
        render_as_batch=True,  # ALTERs that SQLite lacks become copy-and-move on SQLite
        render_item=render_item,
    )
    with context.begin_transaction():  # no-op inside the caller's transaction
        context.run_migrations()


def given_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("CM_DATABASE_URL")
    if not url:
        raise SystemExit("name the database: alembic -x url=sqlite:///path/to/file.db ... (or set CM_DATABASE_URL)")
    return url


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
elif context.is_offline_mode():
    from monitor.store.db import driver_url

    context.configure(
        url=driver_url(given_url()), target_metadata=SQLModel.metadata, literal_binds=True, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    from monitor.store.db import begin_write, make_engine

    engine = make_engine(given_url(), upgrade=False)
    try:
        with begin_write(engine) as conn:
            run(conn)
    finally:
        engine.dispose()
