"""Wake-ups across processes on a real PostgreSQL: NOTIFY in the writing transaction, LISTEN in the relay."""

from __future__ import annotations

import asyncio

from monitor.store.db import begin_write, make_engine
from monitor.store.wakeups import Listener, notify
from tests.fakes import eventually


async def test_a_committed_write_wakes_the_listener_and_a_rolled_back_one_does_not(postgres_url):
    engine = make_engine(postgres_url)
    woken: list[int] = []
    listener = Listener(postgres_url, lambda: woken.append(1))
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        assert woken == [1]  # once on listening: for what was written before
        woken.clear()
        try:
            with begin_write(engine) as conn:
                notify(conn)
                raise RuntimeError("the transaction fails after notify")
        except RuntimeError:
            pass
        with begin_write(engine) as conn:
            notify(conn)
        await eventually(lambda: woken, timeout=5)
        # Notifications arrive in commit order: had the rolled-back one been sent, it would have come first.
        assert woken == [1]
    finally:
        await listener.stop()
        engine.dispose()


def test_notify_does_nothing_on_sqlite(sqlite_engine):
    with begin_write(sqlite_engine) as conn:
        notify(conn)  # no error, no statement that SQLite would refuse


async def test_the_result_writer_wakes_the_decider_for_results_and_the_relays_for_alerts(postgres_url):
    from monitor.store.wakeups import OUTBOX, RESULTS
    from monitor.store.writer import ResultWriter

    engine = make_engine(postgres_url)
    woken: list[str] = []
    listeners = [Listener(postgres_url, lambda c=c: woken.append(c), c) for c in (RESULTS, OUTBOX)]
    for listener in listeners:
        listener.start()
    try:
        for listener in listeners:
            await asyncio.wait_for(listener.listening.wait(), 10)
        woken.clear()
        row = {
            "at": 1000.0,
            "channel": "shop",
            "check": "home",
            "kind": "http",
            "ok": True,
            "error_class": None,
            "error": None,
            "duration_seconds": 0.1,
            "facts": "{}",
            "severity": None,
            "channel_state": "up",
            "location": "waw",
        }
        ResultWriter(engine)._write([row], [], [])
        await eventually(lambda: woken == [RESULTS], timeout=5)
    finally:
        for listener in listeners:
            await listener.stop()
        engine.dispose()


async def test_a_failover_decision_wakes_relays_in_other_processes(postgres_url):
    from alerts.base import Alert
    from alerts.router import alert_row
    from monitor.store.failover import write_decision
    from monitor.store.failover_records import DecisionWrite
    from monitor.store.wakeups import OUTBOX

    engine = make_engine(postgres_url)
    woken: list[int] = []
    listener = Listener(postgres_url, lambda: woken.append(1), OUTBOX)
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        woken.clear()
        moved = Alert("ads", "Black Friday ads", "", "", 1000.0, {}, event="failover_planned", detail="moved", key="down:facebook:990")
        write_decision(engine, DecisionWrite(1000.0, {}, [], [], {}, [alert_row(moved)]))
        await eventually(lambda: woken == [1], timeout=5)
    finally:
        await listener.stop()
        engine.dispose()
