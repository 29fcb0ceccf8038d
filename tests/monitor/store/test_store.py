"""Storage: batched writes, transitions with incidents in one transaction, retry on failure.

Tests that take `engine` or `db_url` run twice: on SQLite and on PostgreSQL (tests/conftest.py).
"""

from __future__ import annotations

import json
import sqlite3
import sys

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlmodel import SQLModel

from monitor.core.redact import redact_url
from monitor.health import State, Transition
from monitor.store.db import StoreError, begin_write, driver_url, ensure_data_dir, make_engine
from monitor.store.models import ChannelStateRow, IncidentRow, ProbeResultRow, TransitionRow
from monitor.store.queries import load_channel_states, open_incidents, uptime_since
from monitor.store.writer import ResultWriter
from tests.support.cli import free_port


def row(at: float, ok: bool = True, channel: str = "allegro") -> dict:
    return {
        "at": at,
        "channel": channel,
        "check": "home",
        "kind": "http",
        "ok": ok,
        "error_class": None if ok else "http_status",
        "error": None if ok else "HTTP 503",
        "duration_seconds": 0.01,
        "facts": json.dumps({"status": 200 if ok else 503}),
    }


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_sqlite_uses_wal(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_sqlite_write_transaction_takes_the_write_lock_at_begin(sqlite_engine, tmp_path):
    other = sqlite3.connect(tmp_path / "cm.db", timeout=0)
    try:
        with begin_write(sqlite_engine) as conn:
            # BEGIN IMMEDIATE: the lock is ours before the first write, so a second writer waits up front
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
            conn.execute(text("INSERT INTO channel_states VALUES ('allegro', 'up', 1.0, '{}')"))
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.rollback()
    finally:
        other.close()
    assert load_channel_states(sqlite_engine)["allegro"].state == "up"


async def test_sqlite_writer_begins_immediate_and_reads_begin_deferred(sqlite_engine):
    begins = []
    event.listen(
        sqlite_engine, "before_cursor_execute", lambda conn, cursor, sql, *_: begins.append(sql) if sql.startswith("BEGIN") else None
    )
    writer = ResultWriter(sqlite_engine)
    writer.add_result(row(1.0))
    await writer.flush()
    assert begins == ["BEGIN IMMEDIATE"]
    assert uptime_since(sqlite_engine, 0.0) == {"allegro": 1.0}
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


def test_sqlite_reads_go_on_while_another_connection_writes(sqlite_engine, tmp_path):
    writer = ResultWriter(sqlite_engine)
    writer._write([row(1.0)], [], [])
    other = sqlite3.connect(tmp_path / "cm.db", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("DELETE FROM probe_results")
        # A read is a plain (deferred) transaction: with WAL it sees the last commit and never waits.
        assert count(sqlite_engine, ProbeResultRow) == 1
        assert uptime_since(sqlite_engine, 0.0) == {"allegro": 1.0}
    finally:
        other.close()


async def test_writer_batches_results(engine):
    flushed = []
    writer = ResultWriter(engine, batch_max=100, on_flush=lambda n, dropped: flushed.append(n))
    for i in range(250):
        writer.add_result(row(float(i)))
    assert count(engine, ProbeResultRow) == 0  # nothing touches the disk until a flush
    await writer.flush()
    assert count(engine, ProbeResultRow) == 250
    assert flushed == [100, 100, 50]
    assert writer.depth == 0


async def test_down_and_recovery_open_and_close_one_incident(engine):
    writer = ResultWriter(engine)
    cause = {"check": "home", "error_class": "http_status", "error": "HTTP 503"}
    writer.add_transition(Transition("allegro", State.UNKNOWN, State.UP, 1.0))
    writer.add_transition(Transition("allegro", State.UP, State.DOWN, 10.0, cause))
    await writer.flush()
    [incident] = open_incidents(engine)
    assert (incident.channel, incident.started_at, json.loads(incident.cause)) == ("allegro", 10.0, cause)
    assert load_channel_states(engine)["allegro"].state == "down"
    writer.add_transition(Transition("allegro", State.DOWN, State.UP, 70.0))
    await writer.flush()
    assert open_incidents(engine) == []
    with engine.connect() as conn:
        ended = conn.execute(select(IncidentRow.ended_at)).scalars().all()
    assert ended == [70.0]
    assert count(engine, TransitionRow) == 3
    assert load_channel_states(engine)["allegro"].state == "up"


async def test_down_again_soon_after_recovering_reopens_the_same_incident(engine):
    writer = ResultWriter(engine)
    writer.add_transition(Transition("allegro", State.UP, State.DOWN, 10.0, down_since=10.0))
    writer.add_transition(Transition("allegro", State.DOWN, State.UP, 20.0, down_since=10.0))
    writer.add_transition(Transition("allegro", State.UP, State.DOWN, 30.0, down_since=10.0))  # health continued it
    await writer.flush()
    [incident] = open_incidents(engine)
    assert (incident.started_at, incident.ended_at) == (10.0, None)
    writer.add_transition(Transition("allegro", State.DOWN, State.UP, 40.0, down_since=10.0))
    writer.add_transition(Transition("allegro", State.UP, State.DOWN, 900.0, down_since=900.0))  # a new one
    await writer.flush()
    with engine.connect() as conn:
        rows = conn.execute(select(IncidentRow.started_at, IncidentRow.ended_at).order_by(IncidentRow.id)).all()
    assert [tuple(r) for r in rows] == [(10.0, 40.0), (900.0, None)]


async def test_failed_write_keeps_rows_and_retries(engine, caplog):
    writer = ResultWriter(engine)
    writer.add_result(row(1.0))
    writer.add_transition(Transition("allegro", State.UP, State.DOWN, 1.0, {"check": "home"}))
    ProbeResultRow.__table__.drop(engine)
    await writer.flush()
    assert writer.failing and writer.depth == 2
    assert "database write failed, keeping 2 rows to retry" in caplog.text
    assert count(engine, ChannelStateRow) == 0  # the transaction rolled back as a whole
    SQLModel.metadata.create_all(engine)
    await writer.flush()
    assert not writer.failing and writer.depth == 0
    assert count(engine, ProbeResultRow) == 1 and count(engine, IncidentRow) == 1


async def test_full_buffer_sheds_oldest_results_never_transitions(engine):
    writer = ResultWriter(engine, buffer_max=3)
    for i in range(5):
        writer.add_result(row(float(i)))
    writer.add_transition(Transition("allegro", State.UP, State.DOWN, 5.0))
    assert writer.dropped == 2
    await writer.flush()
    with engine.connect() as conn:
        assert conn.execute(select(ProbeResultRow.at).order_by(ProbeResultRow.id)).scalars().all() == [2.0, 3.0, 4.0]
    assert count(engine, TransitionRow) == 1


async def test_uptime_is_share_of_good_results_per_channel(engine):
    writer = ResultWriter(engine)
    for i, ok in enumerate([True, True, True, False]):
        writer.add_result(row(100.0 + i, ok))
    writer.add_result(row(5.0, False))  # older than the window
    writer.add_result(row(101.0, True, channel="amazon"))
    await writer.flush()
    assert uptime_since(engine, 100.0) == {"allegro": 0.75, "amazon": 1.0}


def test_unwritable_data_dir_is_explained(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as info:
        ensure_data_dir(blocker / "data")
    assert str(info.value) == (
        f"cannot create data directory {str(blocker / 'data')!r}: Not a directory; choose another with --data-dir or the data_dir key"
    )


def test_corrupt_database_is_explained(tmp_path):
    db = tmp_path / "cm.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        make_engine(f"sqlite:///{db}")
    assert str(info.value) == f"cannot open database sqlite:///{db}: file is not a database; check the file or move it away"


def test_database_of_another_program_is_explained(db_url):
    other = create_engine(driver_url(db_url))
    with other.begin() as conn:
        conn.execute(text("create table channel_states(a text, b text)"))
    other.dispose()
    with pytest.raises(StoreError) as info:
        make_engine(db_url)
    assert str(info.value) == (
        f"database {redact_url(db_url)} has a table 'channel_states' without the columns channel, "
        "state, since, cause: it belongs to another program or version; move it away or choose "
        "another --data-dir"
    )


def test_unknown_database_driver_is_explained():
    with pytest.raises(StoreError) as info:
        make_engine("postgresql+nodriver://user:secret@127.0.0.1/db")
    assert "cannot use database postgresql+nodriver://user:***@127.0.0.1/db" in str(info.value)
    assert "secret" not in str(info.value)


def test_missing_postgres_driver_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(StoreError) as info:
        make_engine("postgresql://monitor:secret@127.0.0.1/cm")
    assert str(info.value).startswith("cannot use database postgresql://monitor:***@127.0.0.1/cm: ")
    assert str(info.value).endswith("install its driver (for PostgreSQL: pip install 'psycopg[binary]') or use a sqlite:/// URL")


def test_unreachable_postgres_server_is_one_line_without_the_password():
    port = free_port()
    with pytest.raises(StoreError) as info:
        make_engine(f"postgresql://monitor:secret@127.0.0.1:{port}/cm?connect_timeout=5")
    message = str(info.value)
    assert message.startswith(f"cannot open database postgresql://monitor:***@127.0.0.1:{port}/cm?***: ")
    assert "Connection refused" in message and "secret" not in message and "\n" not in message
    assert message.endswith("check the URL, that the server runs, and that the user may create tables")


async def test_check_progress_is_stored_with_the_results_and_loaded_back(engine):
    from monitor.health import CheckHealth
    from monitor.store.persist import load_check_progress

    writer = ResultWriter(engine)
    writer.add_result(row(1.0, ok=False))
    writer.set_progress("allegro", "home", CheckHealth(State.UP, fails=1), 1.0)
    writer.set_progress("allegro", "home", CheckHealth(State.UP, fails=2), 2.0)  # the latest wins
    await writer.flush()
    assert load_check_progress(engine) == {("allegro", "home"): CheckHealth(State.UP, fails=2)}
    writer.set_progress("allegro", "home", CheckHealth(State.DOWN, fails=3), 3.0)
    await writer.flush()
    assert load_check_progress(engine)[("allegro", "home")].state is State.DOWN


def test_overrides_and_admin_windows_survive_a_restart(engine):
    from monitor.health import Override
    from monitor.maintenance import Window
    from monitor.store.persist import load_overrides, load_windows, save_override, save_window

    save_override(engine, "allegro", Override(State.DOWN, "anna", "shutdown", until=500.0), 100.0)
    save_override(engine, "amazon", Override(State.UP, "piotr", "false alarm", until=150.0), 100.0)
    save_window(engine, "ceneo", Window("feed migration", start=100.0, end=400.0, by="anna"), 100.0)
    assert load_overrides(engine, 200.0) == {"allegro": Override(State.DOWN, "anna", "shutdown", 500.0)}  # amazon's expired
    assert load_windows(engine, 200.0) == {"ceneo": [Window("feed migration", start=100.0, end=400.0, by="anna")]}
    save_override(engine, "allegro", None, 300.0)
    assert load_overrides(engine, 300.0) == {} and load_windows(engine, 400.0) == {}
