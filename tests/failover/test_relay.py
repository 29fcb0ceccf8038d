"""The relay's loop on its own: it sleeps until a retry is due or it is woken, instead of polling.

Actions are written by the real FailoverEngine into SQLite and sent through the webhook actuator to
the signed receiver on loopback (tests/support/receiver.py). SELECTs are counted on the engine with
a SQLAlchemy event listener.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select

from monitor import outbox as outbox_module
from monitor.core.http import USER_AGENT
from monitor.failover import relay as relay_module
from monitor.failover.actions import ActuatorContext
from monitor.failover.actuators import ACTUATORS, webhook
from monitor.failover.config import Failover
from monitor.failover.engine import FailoverEngine
from monitor.failover.gate import HealthView
from monitor.failover.relay import ActionRelay, due_heads
from monitor.health import State
from monitor.outbox import IDLE_RECHECK, seconds_until
from monitor.store.models import FailoverActionRow
from probes.session import create_outbound_session
from tests.fakes import LOOPBACK, eventually
from tests.support.receiver import SECRET, Receiver

NORMAL = {"shop": 500, "allegro": 300, "facebook": 200}
FAILED_OVER = {"shop": 625, "allegro": 375, "facebook": 0}


@pytest.fixture
async def receiver(aiohttp_server):
    recv = Receiver(amounts={("ads", c): v for c, v in NORMAL.items()})
    recv.url = str((await aiohttp_server(recv.app)).make_url("/failover"))
    return recv


@pytest.fixture
async def setup(sqlite_engine, receiver):
    """A loaded FailoverEngine, a relay (not started) sending to the receiver, and a SELECT counter."""
    config = Failover.model_validate(
        {
            "timing": {"hold_down": 0, "failback_after": 0, "settle": 0},
            "actuators": [{"id": "hook", "kind": "webhook", "url": receiver.url, "secret": SECRET}],
            "promotions": [
                {
                    "id": "ads",
                    "name": "Ads",
                    "total": 1000,
                    "mode": "auto",
                    "channels": {c: {"share": v // 10, "actuator": "hook", "target": f"obj-{c}"} for c, v in NORMAL.items()},
                }
            ],
        }
    )
    fe = FailoverEngine(config, sqlite_engine)
    fe.load(time.time())
    selects: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(sqlite_engine, "before_cursor_execute", count)
    async with create_outbound_session(USER_AGENT, LOOPBACK) as http:  # as the service makes it
        relay = ActionRelay(
            fe,
            {"hook": (ACTUATORS["webhook"], webhook.Config(url=receiver.url, secret=SECRET))},
            ActuatorContext(http, logging.getLogger("test"), time.time),
            time.time,
        )
        yield SimpleNamespace(fe=fe, relay=relay, selects=selects, engine=sqlite_engine)
        await relay.stop()
    event.remove(sqlite_engine, "before_cursor_execute", count)


def outage(fe: FailoverEngine, down: bool = True) -> None:
    """Facebook down (or back) for a minute already: with no hold-down the plan is written now, as the service does."""
    now = time.time()
    views = {c: HealthView(State.DOWN if down and c == "facebook" else State.UP, now - 60) for c in NORMAL}
    decision = fe.evaluate(now, views, False)
    assert not decision.empty
    fe.commit(decision)


def actions(engine) -> list[FailoverActionRow]:
    with engine.connect() as conn:
        return [
            FailoverActionRow.model_validate(r._mapping) for r in conn.execute(select(FailoverActionRow).order_by(FailoverActionRow.id))
        ]


async def test_an_idle_relay_reads_the_database_once_and_then_waits_for_a_wake(setup, receiver):
    await setup.relay.start()
    await eventually(lambda: setup.relay.loop.sleeping_for is not None)
    # After its first round, with nothing due, it sleeps until woken (or the idle recheck): no polling.
    assert setup.relay.loop.sleeping_for == IDLE_RECHECK and setup.relay.loop.rounds == 1
    assert len(setup.selects) <= 1
    outage(setup.fe)  # what the service does after a failover commit ...
    setup.relay.wake()  # ... and then wakes the relay
    await eventually(lambda: receiver.spending("ads") == FAILED_OVER, timeout=5)


async def test_a_retry_goes_out_when_due_without_a_wake(setup, receiver, monkeypatch):
    monkeypatch.setattr(relay_module, "BACKOFF_FIRST", 0.3)  # the first retry 0.3 s after the failure
    receiver.script["facebook"].append(500)
    outage(setup.fe)
    await setup.relay.start()  # the first round sends at once: no wake in this test
    await eventually(lambda: receiver.spending("ads") == FAILED_OVER, timeout=5)
    assert [d["attempt"] for d in receiver.deliveries if d["op"] == "pause"] == [1, 2]
    await eventually(lambda: next(a for a in actions(setup.engine) if a.op == "pause").status == "applied", timeout=5)
    pause = next(a for a in actions(setup.engine) if a.op == "pause")
    assert pause.attempts == 2 and pause.applied_at >= pause.next_at  # not before the backoff was over


async def test_a_permanent_failure_lets_the_rest_of_its_queue_go_without_a_wake(setup, receiver):
    """Failback puts two actions in facebook's queue (set_amount, resume); the first is refused for good."""
    await setup.relay.start()
    outage(setup.fe)
    setup.relay.wake()
    await eventually(lambda: {a.status for a in actions(setup.engine)} == {"applied"}, timeout=5)
    receiver.script["facebook"].append(400)
    outage(setup.fe, down=False)
    setup.relay.wake()  # once, for the plan: the resume after the refusal needs none
    await eventually(lambda: ("ads", "facebook") not in receiver.paused, timeout=5)
    statuses = [(a.op, a.channel, a.status) for a in actions(setup.engine)][3:]
    assert ("set_amount", "facebook", "failed") in statuses and ("resume", "facebook", "applied") in statuses


async def test_a_failback_action_that_fails_alerts_in_the_outage_thread(setup, receiver):
    """The episode is over in memory once the failback plan commits; its failing action still belongs to it."""
    events: list[tuple[str, str]] = []
    setup.relay.on_event = lambda event, _owner, _detail, key: events.append((event, key))
    now = time.time()
    views = {c: HealthView(State.DOWN if c == "facebook" else State.UP, now - 60, down_since=now - 90) for c in NORMAL}
    setup.fe.commit(setup.fe.evaluate(now, views, False))
    await setup.relay.start()
    await eventually(lambda: {a.status for a in actions(setup.engine)} == {"applied"}, timeout=5)
    receiver.script["facebook"].append(400)  # the failback's set_amount is refused for good
    outage(setup.fe, down=False)
    assert setup.fe.episodes == {}
    setup.relay.wake()
    await eventually(lambda: events, timeout=5)
    assert events == [("action_failed", f"down:facebook:{int(now - 90)}")]


def row(id: int, channel: str, next_at: float, status: str = "pending") -> SimpleNamespace:
    return SimpleNamespace(id=id, owner_kind="promotion", owner="ads", channel=channel, next_at=next_at, status=status)


@pytest.mark.parametrize(
    ("rows", "heads", "retry_at"),
    [
        ([], {}, None),
        ([row(1, "shop", 90), row(2, "shop", 100)], {"shop": [1, 2]}, None),  # both due, in order
        ([row(1, "shop", 130), row(2, "shop", 100)], {}, 130),  # the head waits: so does the rest
        ([row(1, "shop", 130), row(2, "fb", 120), row(3, "fb", 90)], {}, 120),  # the earliest waiting head
        ([row(1, "shop", 90, "sending"), row(2, "shop", 110)], {}, None),  # in flight: its round looks again
        ([row(1, "fb", 90, "sending"), row(2, "shop", 140), row(3, "al", 100)], {"al": [3]}, 140),
    ],
    ids=["empty", "due", "retry-blocks-queue", "earliest-head", "sending", "mixed"],
)
def test_due_heads(rows, heads, retry_at):
    got, at = due_heads(rows, now=100)
    assert {group[2]: [r.id for r in rs] for group, rs in got.items()} == heads
    assert at == retry_at


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (None, IDLE_RECHECK),
        (100.0, 0.0),
        (90.0, 0.0),
        (100.4, pytest.approx(0.4)),
        (100 + IDLE_RECHECK * 2, IDLE_RECHECK),
    ],
    ids=["nothing-scheduled", "due-now", "overdue", "soon", "far-capped"],
)
def test_seconds_until(due, expected):
    assert seconds_until(due, now=100.0) == expected


async def test_an_outcome_the_database_failed_to_store_is_sent_again_not_stranded(setup, receiver, monkeypatch):
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(outbox_module, "ERROR_RETRY", 0.2)
    real, calls = setup.relay._record, []

    def record_fails_once(row, result, release):
        calls.append(row.id)
        if len(calls) == 1:
            raise OperationalError("UPDATE failover_actions", {}, Exception("database is locked"))
        return real(row, result, release)

    monkeypatch.setattr(setup.relay, "_record", record_fails_once)
    outage(setup.fe)
    await setup.relay.start()
    await eventually(lambda: {a.status for a in actions(setup.engine)} == {"applied"}, timeout=5)
    first = calls[0]
    sends = [d for d in receiver.deliveries if d["id"] == next(a.key for a in actions(setup.engine) if a.id == first)]
    assert len(sends) == 2 and sends[0]["id"] == sends[1]["id"]  # the same key again: applied once by the receiver
    assert receiver.spending("ads") == FAILED_OVER and receiver.duplicates() == 1


async def test_a_relay_leaves_a_live_relay_s_claims_alone_and_takes_a_dead_one_s_after_the_lease(setup):
    from monitor.store.failover_actions import claim_actions, open_actions, release_sending

    outage(setup.fe)
    now = time.time()
    first, second = [[r] for r in open_actions(setup.engine)][:2]
    [[mine]] = claim_actions(setup.engine, [first], "relay-a", now + relay_module.CLAIM_LEASE)
    [[own]] = claim_actions(setup.engine, [second], "local", now + relay_module.CLAIM_LEASE)

    def row(action_id: int) -> FailoverActionRow:
        return next(a for a in actions(setup.engine) if a.id == action_id)

    release_sending(setup.engine, "relay-b", now)  # relay-b starting: relay-a is alive and sending
    assert (row(mine.id).status, row(mine.id).claimed_by) == ("sending", "relay-a")
    release_sending(setup.engine, "local", now)  # a single process restarting takes its own claims back at once
    assert (row(own.id).status, row(own.id).attempts) == ("pending", 1)
    release_sending(setup.engine, "relay-b", now + relay_module.CLAIM_LEASE + 1)  # relay-a died: its lease ran out
    assert (row(mine.id).status, row(mine.id).claimed_by, row(mine.id).attempts) == ("pending", None, 1)
    assert row(mine.id).key == mine.key  # sent again under the same idempotency key


async def test_a_live_relay_renews_its_claims_so_a_long_send_is_not_taken_over(setup):
    from monitor.store.failover_actions import claim_actions, open_actions, release_sending, renew_claims

    outage(setup.fe)
    now = time.time()
    [[mine]] = claim_actions(setup.engine, [[open_actions(setup.engine)[0]]], "relay-a", now + relay_module.CLAIM_LEASE)
    later = now + relay_module.CLAIM_LEASE - 1
    renew_claims(setup.engine, "relay-a", later + relay_module.CLAIM_LEASE)  # relay-a still sending: renewed
    release_sending(setup.engine, "relay-b", now + relay_module.CLAIM_LEASE + 1)  # past the first lease, within the renewed one
    row = next(a for a in actions(setup.engine) if a.id == mine.id)
    assert (row.status, row.claimed_by) == ("sending", "relay-a")
    release_sending(setup.engine, "relay-b", later + relay_module.CLAIM_LEASE + 1)  # relay-a stopped renewing: it died
    row = next(a for a in actions(setup.engine) if a.id == mine.id)
    assert (row.status, row.claimed_by) == ("pending", None)


async def test_a_new_leading_decider_resends_what_the_previous_one_was_sending_with_the_same_keys(setup):
    from monitor.store.failover_actions import claim_actions, open_actions, release_others

    outage(setup.fe)
    now = time.time()
    old, relay, own = [[r] for r in open_actions(setup.engine)][:3]
    [[was]] = claim_actions(setup.engine, [old], "decide/host:1#1", now + relay_module.CLAIM_LEASE)
    [[other]] = claim_actions(setup.engine, [relay], "relay-local/host:7:ab", now + relay_module.CLAIM_LEASE)
    [[mine]] = claim_actions(setup.engine, [own], "decide/host:2#2", now + relay_module.CLAIM_LEASE)
    assert release_others(setup.engine, "decide/", "decide/host:2#2") == 1
    rows = {a.id: a for a in actions(setup.engine)}
    assert (rows[was.id].status, rows[was.id].attempts, rows[was.id].key) == ("pending", 1, was.key)
    assert rows[other.id].status == "sending" and rows[mine.id].status == "sending"
