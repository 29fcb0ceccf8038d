"""Storage: batched writes, transitions with incidents in one transaction, retry on failure."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from monitor.health import State, Transition
from monitor.store.db import StoreError, ensure_data_dir, make_engine
from monitor.store.models import ChannelStateRow, IncidentRow, ProbeResultRow, TransitionRow
from monitor.store.queries import load_channel_states, open_incidents, uptime_since
from monitor.store.writer import ResultWriter


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'cm.db'}")
    yield engine
    engine.dispose()


def row(at: float, ok: bool = True, channel: str = "allegro") -> dict:
    return {"at": at, "channel": channel, "check": "home", "kind": "http", "ok": ok,
            "error_class": None if ok else "http_status", "error": None if ok else "HTTP 503",
            "duration_seconds": 0.01, "facts": json.dumps({"status": 200 if ok else 503})}


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_sqlite_uses_wal(engine):
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


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
        assert conn.execute(select(ProbeResultRow.at)).scalars().all() == [2.0, 3.0, 4.0]
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
    assert str(info.value) == (f"cannot create data directory {str(blocker / 'data')!r}: Not a directory; "
                               "choose another with --data-dir or the data_dir key")


def test_corrupt_database_is_explained(tmp_path):
    db = tmp_path / "cm.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        make_engine(f"sqlite:///{db}")
    assert str(info.value) == f"cannot open database sqlite:///{db}: file is not a database; check the file or move it away"


def test_database_of_another_program_is_explained(tmp_path):
    import sqlite3
    db = tmp_path / "cm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table channel_states(a, b)")
    with pytest.raises(StoreError) as info:
        make_engine(f"sqlite:///{db}")
    assert str(info.value) == (f"database sqlite:///{db} has a table 'channel_states' without the columns channel, state, "
                               "since, cause: it belongs to another program or version; move it away or choose another --data-dir")


def test_unknown_database_driver_is_explained():
    with pytest.raises(StoreError) as info:
        make_engine("postgresql+nodriver://user:secret@127.0.0.1/db")
    assert "cannot use database postgresql+nodriver://user:***@127.0.0.1/db" in str(info.value)
    assert "secret" not in str(info.value)
