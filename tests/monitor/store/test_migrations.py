"""Schema migrations: they build exactly the models' tables, and the service upgrades only where it is safe.

Tests that take `db_url` run on SQLite and on PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, text
from sqlmodel import SQLModel

from monitor.core.redact import redact_url
from monitor.store import models  # noqa: F401  (every table on SQLModel.metadata)
from monitor.store.db import (
    BASELINE,
    BASELINE_TABLES,
    StoreError,
    Upgrade,
    alembic_config,
    begin_write,
    driver_url,
    head_revision,
    make_engine,
    upgrade_schema,
)
from monitor.store.queries import load_channel_states, open_incidents
from tests.support.cli import run_cli


@pytest.fixture
def bare(db_url):
    """An engine on the empty database, with no schema work done."""
    engine = make_engine(db_url, upgrade=False)
    yield engine
    engine.dispose()


def diffs(engine, metadata: MetaData) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def migrate_to(engine, revision: str) -> None:
    with begin_write(engine) as conn:
        command.upgrade(alembic_config(conn), revision)


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrations_build_exactly_the_models_tables(bare):
    assert upgrade_schema(bare) == Upgrade(None, head_revision())
    # A model change without its migration shows up here: write one (README, "Changing the database schema").
    assert diffs(bare, SQLModel.metadata) == []


def test_the_comparison_catches_a_model_change_without_a_migration(bare):
    upgrade_schema(bare)
    changed = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    Table("rollups_hourly", changed, Column("id", Integer, primary_key=True))
    changed.tables["incidents"].append_column(Column("note", String(200)))
    found = {(d[0], d[3].name if d[0] == "add_column" else d[1].name) for d in diffs(bare, changed)}
    assert found == {("add_table", "rollups_hourly"), ("add_column", "note")}


def test_baseline_is_the_first_revisions_schema(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'cm.db'}", upgrade=False)
    migrate_to(engine, BASELINE)
    found = {t: tuple(c["name"] for c in inspect(engine).get_columns(t)) for t in tables(engine) - {"alembic_version"}}
    engine.dispose()
    assert found == BASELINE_TABLES


def test_start_upgrades_an_empty_database_once(db_url):
    engine = make_engine(db_url)
    engine.dispose()
    engine = make_engine(db_url, upgrade=False)
    assert upgrade_schema(engine) == Upgrade(head_revision(), head_revision())  # nothing left to do
    assert tables(engine) >= {"alembic_version", *SQLModel.metadata.tables}
    engine.dispose()


def test_start_adopts_a_database_made_before_migrations_and_keeps_its_data(bare, db_url):
    # What the create_all versions left: the first revision's tables, no alembic_version, and live state.
    migrate_to(bare, BASELINE)
    with bare.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO channel_states VALUES ('allegro', 'down', 10.0, '{}')"))
        conn.execute(text("INSERT INTO incidents (channel, started_at, cause) VALUES ('allegro', 10.0, '{}')"))
    assert upgrade_schema(bare) == Upgrade(None, head_revision(), adopted=True)
    assert revision(bare) == head_revision()
    assert load_channel_states(bare)["allegro"].state == "down"
    assert [i.channel for i in open_incidents(bare)] == ["allegro"]
    assert diffs(bare, SQLModel.metadata) == []


def test_start_refuses_a_database_of_another_program(bare, db_url):
    with bare.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id integer primary key, name text)"))
    with pytest.raises(StoreError) as info:
        make_engine(db_url)
    assert str(info.value) == (
        f"database {redact_url(db_url)} holds tables of another program (customers) and none "
        "of channel-monitor's; use an empty database (another --data-dir or database_url), or "
        "add channel-monitor's tables to this one with `channel-monitor db upgrade`"
    )
    assert tables(bare) == {"customers"}  # untouched


def test_db_upgrade_adds_the_tables_beside_another_programs(bare):
    with bare.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id integer primary key, name text)"))
    assert upgrade_schema(bare, explicit=True) == Upgrade(None, head_revision())
    assert tables(bare) == {"customers", "alembic_version", *SQLModel.metadata.tables}


def test_start_refuses_a_database_migrated_by_a_newer_version(db_url):
    make_engine(db_url).dispose()
    engine = make_engine(db_url, upgrade=False)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    engine.dispose()
    with pytest.raises(StoreError) as info:
        make_engine(db_url)
    assert str(info.value) == (
        f"database {redact_url(db_url)} has schema revision 'f00dcafe', which this version of "
        f"channel-monitor does not know (its newest is '{head_revision()}'): a newer "
        "channel-monitor or another program migrated it; run that version or choose another "
        "database"
    )


def test_start_refuses_some_of_our_tables_without_a_version(bare, db_url):
    migrate_to(bare, BASELINE)
    with bare.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("DROP TABLE transitions"))
    with pytest.raises(StoreError) as info:
        make_engine(db_url)
    assert str(info.value) == (
        f"database {redact_url(db_url)} has some of channel-monitor's tables but not transitions, "
        "and no schema version: it belongs to another program or version; move it away or "
        "choose another --data-dir"
    )


def test_start_refuses_our_table_names_with_unknown_columns(bare, db_url):
    migrate_to(bare, BASELINE)
    with bare.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("ALTER TABLE incidents ADD COLUMN owner text"))
    with pytest.raises(StoreError) as info:
        make_engine(db_url)
    assert str(info.value) == (
        f"database {redact_url(db_url)} has a table 'incidents' with columns channel-monitor "
        "does not know (owner): it belongs to another program or version; move it away or "
        "choose another --data-dir"
    )


def test_two_instances_starting_together_migrate_once(db_url):
    barrier, errors, engines = threading.Barrier(2), [], []

    def start() -> None:
        barrier.wait()
        try:
            engines.append(make_engine(db_url))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    for engine in engines:
        engine.dispose()


def config_file(tmp_path, db_url: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        + (f"database_url: '{db_url}'\n" if db_url.startswith("postgresql") else "")
        + "channels:\n  - {id: shop, name: Shop, checks: [{kind: http, target: 'https://shop.example/'}]}\n"
    )
    return str(path)


async def test_db_upgrade_command_migrates_then_has_nothing_to_do(tmp_path, db_url):
    config = config_file(tmp_path, db_url)
    shown = redact_url(db_url) if db_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'data' / 'channel-monitor.db'}"
    code, out, err = await run_cli("db", "upgrade", "--config", config)
    assert (code, out, err) == (0, f"{shown}: schema upgraded from an empty database to revision {head_revision()}\n", "")
    code, out, _ = await run_cli("db", "upgrade", "--config", config)
    assert (code, out) == (0, f"{shown}: schema is up to date (revision {head_revision()})\n")


async def test_db_upgrade_command_without_config_uses_the_data_dir(tmp_path):
    code, out, _ = await run_cli("db", "upgrade", "--data-dir", str(tmp_path / "d"))
    assert code == 0
    assert out == (
        f"sqlite:///{tmp_path / 'd' / 'channel-monitor.db'}: schema upgraded from an empty database to revision {head_revision()}\n"
    )


async def test_db_upgrade_command_explains_an_unusable_database_with_exit_2(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "channel-monitor.db").write_bytes(b"not a database" * 100)
    code, out, err = await run_cli("db", "upgrade", "--data-dir", str(tmp_path / "d"))
    assert (code, out) == (2, "")
    assert err == (
        f"channel-monitor: error: cannot open database sqlite:///{tmp_path / 'd' / 'channel-monitor.db'}: "
        "file is not a database; check the file or move it away\n"
    )


def test_postgres_url_uses_psycopg_3():
    assert driver_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert driver_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"
    assert create_engine(driver_url("postgresql://u@h/d")).dialect.driver == "psycopg"


def test_result_ids_go_past_32_bits(db_url):
    """2,000 checks a second pass 2**31 results in 12 days: ids (and PostgreSQL's sequence) are 64-bit."""
    engine = make_engine(db_url)
    big = 3_000_000_000
    row = (
        'INSERT INTO probe_results (at, channel, "check", kind, ok, duration_seconds, facts, channel_state) '
        "VALUES (1, 'shop', 'http', 'http', true, 0.1, '{}', 'up')"
    )
    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('probe_results', 'id'), {big})"))
        else:  # SQLite gives the next rowid after the largest one
            conn.execute(text(row.replace("(at,", "(id, at,").replace("VALUES (", f"VALUES ({big}, ")))
        conn.execute(text(row))
        ids = conn.execute(text("SELECT id FROM probe_results ORDER BY id")).scalars().all()
    engine.dispose()
    assert ids[-1] == big + 1
