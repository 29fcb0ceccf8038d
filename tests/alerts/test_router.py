"""The alert router over a real database: grouping, threads, retries, fallback, restarts."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import event, insert, select

from alerts import router as router_module
from alerts.base import Alert, Batch, Delivery, Notifier, NotifyError, Thread
from alerts.config import Alerts, Route
from alerts.router import BATCH_MAX, AlertRouter, alert_row, due_at
from monitor.outbox import IDLE_RECHECK, seconds_until
from monitor.store.db import begin_write, make_engine
from monitor.store.models import AlertDeliveryRow, AlertRow
from tests.fakes import FakeClock, eventually
from tests.support.alerts import meta_down


class Fake(Notifier):
    """An external notifier's stand-in: records messages, threads them, fails as scripted."""

    def __init__(self, id: str, threads: bool = True) -> None:
        self.id, self.threads = id, threads
        self.messages: list[tuple[Batch, Thread | None]] = []
        self.failures: list[NotifyError] = []  # raised first, one per send
        self.attempts = 0

    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.messages.append((batch, thread))
        return Delivery(thread.ref if thread else f"msg-{len(self.messages)}")

    def channels_sent(self) -> list[list[str]]:
        return [[a.channel for a in b.alerts] for b, _ in self.messages]


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'cm.db'}")
    yield engine
    engine.dispose()


def store_alerts(engine, alerts: list[Alert]) -> None:
    with begin_write(engine) as conn:
        conn.execute(insert(AlertRow), [alert_row(a) for a in alerts])


def statuses(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.destination, r.status) for r in conn.execute(select(AlertDeliveryRow).order_by(AlertDeliveryRow.id))]


async def run(router: AlertRouter, until, timeout: float = 8.0) -> None:
    router.start()
    try:
        await eventually(until, timeout=timeout)
    finally:
        await router.stop()


async def test_four_failures_at_once_are_one_message(store):
    slack = Fake("slack")
    router = AlertRouter(store, Alerts(group_wait=0.3), {"slack": slack})
    store_alerts(store, meta_down(at=0))
    await run(router, lambda: slack.messages)
    assert slack.channels_sent() == [["facebook-shop", "instagram-shop", "messenger", "whatsapp-business"]]


async def test_alerts_wait_for_the_group_window_then_go_together(store):
    clock = FakeClock()
    slack = Fake("slack")
    router = AlertRouter(store, Alerts(group_wait=1.0), {"slack": slack}, clock)
    store_alerts(store, meta_down(at=clock())[:2])
    router.start()
    try:
        await eventually(lambda: router.loop.sleeping_for is not None)
        assert slack.messages == [] and router.loop.sleeping_for == 1.0  # inside the window: sleeps to its end
        clock.advance(0.5)
        store_alerts(store, meta_down(at=clock())[2:])
        router.wake()  # the writer's wake: a round that finds the window still open
        await eventually(lambda: router.loop.rounds == 2 and router.loop.sleeping_for is not None)
        assert slack.messages == [] and router.loop.sleeping_for == 0.5
        clock.advance(0.5)
        router.wake()
        await eventually(lambda: slack.messages)
    finally:
        await router.stop()
    assert slack.channels_sent() == [["facebook-shop", "instagram-shop", "messenger", "whatsapp-business"]]


async def test_recovery_updates_the_incident_message_in_place(store):
    slack = Fake("slack")
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    down = meta_down(at=0)
    store_alerts(store, down)
    await run(router, lambda: slack.messages)
    recovery = Alert("facebook-shop", "Facebook Shop", "down", "up", 500, {}, down_for=500, key=down[0].key)
    store_alerts(store, [recovery])
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    await run(router, lambda: len(slack.messages) == 2)
    batch, thread = slack.messages[1]
    assert thread is not None and thread.ref == "msg-1"
    assert [a.channel for a in thread.alerts] == [a.channel for a in down]  # what the message covered so far
    assert [a.new_state for a in batch.alerts] == ["up"]


async def test_a_temporary_failure_is_retried_and_delivered_once_in_order(store):
    slack = Fake("slack", threads=False)
    slack.failures = [NotifyError("HTTP 500"), NotifyError("rate limited", retry_after=0.5)]
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    store_alerts(store, meta_down(at=0))
    await run(router, lambda: slack.messages, timeout=10)
    assert slack.attempts == 3 and len(slack.messages) == 1
    assert slack.channels_sent()[0] == ["facebook-shop", "instagram-shop", "messenger", "whatsapp-business"]
    assert {s for _, s in statuses(store)} == {"sent"}


async def test_a_permanent_failure_falls_back_at_once_and_is_reported(store):
    slack, email = Fake("slack"), Fake("email")
    slack.failures = [NotifyError("invalid_auth: the token was revoked", permanent=True)]
    router = AlertRouter(store, Alerts(group_wait=0, routes=[Route(to=["slack", "email"])]), {"slack": slack, "email": email})
    store_alerts(store, meta_down(at=0)[:1])
    await run(router, lambda: email.messages)
    assert slack.attempts == 1  # no retry loop
    assert statuses(store) == [("slack", "fell_back"), ("email", "sent")]
    # Public pages learn only that it fails; the admin API and the log have why.
    assert router.problems["slack"].startswith("not delivering since ") and "invalid_auth" not in router.problems["slack"]
    assert router.problem_details()["slack"]["last_error"] == "invalid_auth: the token was revoked"


async def test_a_notifier_failing_too_long_hands_over_and_reports_the_chain_when_back(store):
    slack, email = Fake("slack", threads=False), Fake("email")
    slack.failures = [NotifyError("HTTP 503")]  # the first alert fails, and is still failing 1 s later
    router = AlertRouter(
        store, Alerts(group_wait=0, fallback_after=1.0, routes=[Route(to=["slack", "email"])]), {"slack": slack, "email": email}
    )
    store_alerts(store, meta_down(at=0)[:1])
    router.start()
    try:
        await eventually(lambda: email.messages, timeout=10)  # after 1 s of failing, e-mail takes it
        store_alerts(store, [Alert("allegro", "Allegro", "up", "down", 10, {"error": "HTTP 503"})])
        router.wake()
        await eventually(lambda: len(slack.messages) == 2, timeout=15)  # slack back: the alert, then the report
    finally:
        await router.stop()
    report = slack.messages[-1][0].alerts[0]
    assert report.event == "notifier_recovered" and "1 alerts went to the next notifier of their route" in report.detail
    assert router.problems == {}


async def test_pending_alerts_survive_a_restart_and_go_out_once(store):
    slack = Fake("slack", threads=False)
    slack.failures = [NotifyError("HTTP 500")] * 50
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    store_alerts(store, meta_down(at=0))
    router.start()
    await eventually(lambda: slack.attempts >= 1)
    await router.stop()  # "restart" while Slack is down
    assert slack.messages == []
    store_alerts(store, [Alert("allegro", "Allegro", "up", "down", 5, {"error": "HTTP 503"})])
    slack.failures = []
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    await run(router, lambda: sum(len(b.alerts) for b, _ in slack.messages) == 5, timeout=15)
    sent = [a.channel for b, _ in slack.messages for a in b.alerts]
    assert sent == ["facebook-shop", "instagram-shop", "messenger", "whatsapp-business", "allegro"]  # once, in order


async def test_routes_pick_destinations_and_mute(store):
    slack, email = Fake("slack"), Fake("email")
    routes = [Route(groups=["social"], mute=True), Route(severities=["critical"], to=["email"]), Route(to=["slack"])]
    router = AlertRouter(store, Alerts(group_wait=0, routes=routes), {"slack": slack, "email": email})
    social = Alert("facebook-shop", "Facebook Shop", "up", "down", 1, {}, group="social")
    shop = Alert("shop", "Shop", "up", "down", 2, {}, group="own_shop")
    degraded = Alert("shop", "Shop", "up", "degraded", 3, {}, group="own_shop")
    store_alerts(store, [social, shop, degraded])
    await run(router, lambda: email.messages and slack.messages)
    assert email.channels_sent() == [["shop"]] and [b.alerts[0].new_state for b, _ in slack.messages] == ["degraded"]
    with store.connect() as conn:
        assert json.loads(conn.execute(select(AlertDeliveryRow.chain)).scalars().first()) == []


# --- sleeping until something is due, instead of polling ----------------------------------------------


@pytest.fixture
def selects(store):
    """The SELECTs run on the store from now on (a round of the router runs two)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(store, "before_cursor_execute", count)
    yield seen
    event.remove(store, "before_cursor_execute", count)


def deliveries(engine) -> list[AlertDeliveryRow]:
    with engine.connect() as conn:
        return [AlertDeliveryRow.model_validate(r._mapping) for r in conn.execute(select(AlertDeliveryRow).order_by(AlertDeliveryRow.id))]


async def test_an_idle_router_reads_the_database_once_and_then_waits_for_a_wake(store, selects):
    slack = Fake("slack")
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    router.start()
    try:
        await eventually(lambda: router.loop.sleeping_for is not None)
        # After its first round, with nothing due, it sleeps until woken (or the idle recheck): no polling.
        assert router.loop.sleeping_for == IDLE_RECHECK and router.loop.rounds == 1
        assert len(selects) <= 2  # one round (outbox, deliveries)
        store_alerts(store, meta_down(at=0))  # what the result writer does ...
        router.wake()  # ... and then it wakes the router
        await eventually(lambda: slack.messages, timeout=5)
    finally:
        await router.stop()


async def test_a_retry_goes_out_when_due_without_a_wake(store, monkeypatch):
    monkeypatch.setattr(router_module, "BACKOFF_FIRST", 0.1)
    slack = Fake("slack", threads=False)
    slack.failures = [NotifyError("rate limited", retry_after=0.4)]  # Retry-After beats the 0.1 s backoff
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    store_alerts(store, meta_down(at=0)[:1])
    await run(router, lambda: slack.messages, timeout=5)  # nothing wakes the router in this test
    [row] = deliveries(store)
    assert slack.attempts == 2 and row.status == "sent"
    assert row.sent_at >= row.first_failed_at + 0.4  # not before the receiver said


async def test_the_group_window_closing_sends_without_a_wake(store):
    slack = Fake("slack", threads=False)
    router = AlertRouter(store, Alerts(group_wait=0.6), {"slack": slack})
    now = time.time()
    store_alerts(store, meta_down(at=now)[:2])
    router.start()
    try:
        await eventually(lambda: len(deliveries(store)) == 2)  # routed; now waiting for the window
        store_alerts(store, meta_down(at=now)[2:])  # stored without a wake: routed when it closes
        await eventually(lambda: slack.messages, timeout=5)
    finally:
        await router.stop()
    assert slack.channels_sent() == [["facebook-shop", "instagram-shop", "messenger", "whatsapp-business"]]
    assert min(r.sent_at for r in deliveries(store)) >= now + 0.6


async def test_more_than_one_message_of_alerts_goes_out_without_a_wake(store):
    slack = Fake("slack", threads=False)
    router = AlertRouter(store, Alerts(group_wait=0), {"slack": slack})
    store_alerts(store, [Alert(f"shop-{i}", f"Shop {i}", "up", "down", i, {}) for i in range(BATCH_MAX + 5)])
    await run(router, lambda: len(slack.messages) == 2, timeout=5)
    assert [len(b.alerts) for b, _ in slack.messages] == [BATCH_MAX, 5]


def pending(*rows: tuple[int, float, float]) -> list[tuple[SimpleNamespace, SimpleNamespace]]:
    """(attempts, next_at, alert at) per delivery, oldest first."""
    return [(SimpleNamespace(attempts=n, next_at=next_at), SimpleNamespace(at=at)) for n, next_at, at in rows]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (pending((0, 100, 100), (0, 105, 105)), 130),  # first attempt: when the oldest's window closes
        (pending((0, 50, 50)), 80),  # its window closed already: due
        (pending((1, 140, 50)), 140),  # a retry: its backoff
        (pending((1, 90, 95)), 90),  # a retry does not wait for the window
        (pending((0, 90, 95), (1, 200, 96)), 90),  # nor does a batch with a retry in it
        (pending((0, 100, 10)), 100),  # handed on by a fallback: when it was handed on
    ],
    ids=["window-open", "window-closed", "retry-later", "retry-ignores-window", "batch-retrying", "fallback"],
)
def test_due_at(rows, expected):
    assert due_at(rows, group_wait=30) == expected


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


async def test_failing_for_fallback_after_hands_over_then_not_at_the_next_retry(store):
    slack, email = Fake("slack", threads=False), Fake("email")
    slack.failures = [NotifyError("rate limited", retry_after=60)]  # Slack asks for a minute
    router = AlertRouter(
        store, Alerts(group_wait=0, fallback_after=1.0, routes=[Route(to=["slack", "email"])]), {"slack": slack, "email": email}
    )
    store_alerts(store, meta_down(at=0)[:1])
    router.start()
    try:
        await eventually(lambda: email.messages, timeout=8)  # at 1 s of failing, not after the 60 s wait
    finally:
        await router.stop()
    assert slack.attempts == 1
    assert statuses(store) == [("slack", "fell_back"), ("email", "sent")]


# --- several relays on one database ------------------------------------------------------------


class Workspace:
    """One Slack workspace that several relays (each with its own notifier) post to."""

    def __init__(self) -> None:
        self.messages: list[tuple[Batch, Thread | None, str]] = []

    def notifier(self, relay: str) -> Notifier:
        workspace = self

        class Posting(Fake):
            async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
                workspace.messages.append((batch, thread, relay))
                return Delivery(thread.ref if thread else f"msg-{len(workspace.messages)}")

        return Posting("slack")


async def test_two_relays_send_each_alert_once_and_keep_an_incident_in_one_thread(store):
    clock, slack = FakeClock(), Workspace()
    a = AlertRouter(store, Alerts(group_wait=0), {"slack": slack.notifier("a")}, clock, holder="relay-a")
    b = AlertRouter(store, Alerts(group_wait=0), {"slack": slack.notifier("b")}, clock, holder="relay-b")
    down = meta_down(at=clock())
    store_alerts(store, down)
    for relay in (a, b, a, b, b, a):  # both keep working the same outbox, in any order
        relay.route_new()
        await relay.deliver_due()
    recovery = Alert("facebook-shop", "Facebook Shop", "down", "up", clock.advance(10), {}, down_for=10, key=down[0].key)
    store_alerts(store, [recovery])
    for relay in (b, a, b, a):
        relay.route_new()
        await relay.deliver_due()

    assert [(len(batch.alerts), thread.ref if thread else None, relay) for batch, thread, relay in slack.messages] == [
        (4, None, "a"),
        (1, "msg-1", "a"),  # the recovery updates the incident's message, whichever relay was up
    ]
    assert [s for _, s in statuses(store)] == ["sent"] * 5


async def test_a_dead_relay_s_destination_is_taken_over_after_its_lease(store):
    clock, slack = FakeClock(), Workspace()
    a = AlertRouter(store, Alerts(group_wait=0), {"slack": slack.notifier("a")}, clock, holder="relay-a")
    b = AlertRouter(store, Alerts(group_wait=0), {"slack": slack.notifier("b")}, clock, holder="relay-b")
    store_alerts(store, meta_down(at=clock()))
    a.route_new()
    await a.deliver_due()  # a takes the destination's lease ... and is SIGKILLed before sending
    await b.deliver_due()
    clock.advance(router_module.LEASE_TTL - 1)
    await b.deliver_due()
    assert slack.messages == []  # a's lease still runs: b cannot know it died
    clock.advance(2)
    await b.deliver_due()  # taken over: b reads what is pending afresh ...
    await b.deliver_due()  # ... and sends it, once
    assert [(len(batch.alerts), relay) for batch, _, relay in slack.messages] == [(4, "b")]


async def test_a_live_relay_keeps_its_destination_through_a_send_longer_than_the_lease(store):
    clock, slack = FakeClock(), Workspace()
    release, sending = asyncio.Event(), asyncio.Event()

    class Slow(Fake):
        async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
            sending.set()
            await release.wait()  # Slack takes its time (within SEND_TIMEOUT)
            slack.messages.append((batch, thread, "a"))
            return Delivery("msg-1")

    a = AlertRouter(store, Alerts(group_wait=0), {"slack": Slow("slack")}, clock, holder="relay-a", lease_renew=0.01)
    b = AlertRouter(store, Alerts(group_wait=0), {"slack": slack.notifier("b")}, clock, holder="relay-b")
    store_alerts(store, meta_down(at=clock()))
    a.route_new()
    await a.deliver_due()  # takes the lease
    send = asyncio.create_task(a.deliver_due())
    await sending.wait()
    clock.advance(router_module.LEASE_TTL + 5)  # longer than the lease: a renews it while it sends
    renewed = clock()
    await eventually(lambda: lease_until(store, "alerts:slack") >= renewed + router_module.LEASE_TTL - 1)
    await b.deliver_due()
    release.set()
    await send
    assert [(len(batch.alerts), relay) for batch, _, relay in slack.messages] == [(4, "a")]  # once, by a


def lease_until(engine, name: str) -> float:
    from sqlalchemy import select

    from monitor.store.models import LeaseRow

    with engine.connect() as conn:
        return conn.execute(select(LeaseRow.until).where(LeaseRow.name == name)).scalar() or 0.0
