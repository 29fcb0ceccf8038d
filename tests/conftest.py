from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from monitor.store.db import driver_url, make_engine
from tests.fakes import FakeChannel, FakeClock, serve
from tests.support import postgres
from tests.support.skips import debian_tool, missing

POSTGRES_URL_VAR = "CM_TEST_POSTGRES_URL"  # a superuser (or CREATEDB) URL of a server to use instead


@pytest.fixture
async def fake_channel(aiohttp_server):
    return await serve(aiohttp_server, FakeChannel())


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves (create_app(clock=clock), clock.advance(s)); it starts at the real time."""
    return FakeClock()


@pytest.fixture(scope="session")
def promtool() -> str:
    return debian_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return debian_tool("prometheus", "prometheus")


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the storage tests: CM_TEST_POSTGRES_URL, or a throw-away cluster on loopback.

    Without either, the PostgreSQL tests skip on a developer's machine and fail under CI.
    """
    if os.environ.get(POSTGRES_URL_VAR):
        yield os.environ[POSTGRES_URL_VAR]
        return
    try:
        cluster = postgres.Cluster()
        url = cluster.start()
    except postgres.Unavailable as exc:
        missing(
            f"no PostgreSQL server for the storage tests: {exc}; install Debian's postgresql "
            f"(apt-get install postgresql) or set {POSTGRES_URL_VAR}"
        )
    yield url
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_admin(postgres_server):
    """An autocommit engine on the server's maintenance database, for CREATE/DROP DATABASE."""
    engine = create_engine(driver_url(postgres_server), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin):
    """A fresh, empty PostgreSQL database for one test (dropped after it), as a postgresql:// URL."""
    name = f"cm_test_{uuid.uuid4().hex[:16]}"
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin.url).set(drivername="postgresql", database=name)
    yield url.render_as_string(hide_password=False)
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database URL, once on SQLite (a file in tmp_path) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cm.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'cm.db'}")
    yield engine
    engine.dispose()
