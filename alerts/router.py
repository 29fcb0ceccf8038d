"""The alert router: route stored alerts, group them, send them, fall back when a notifier fails.

Alerts reach the database through the result writer, in the same transaction as the state change that
caused them (alert_outbox). This router, one background task, then:

1. routes new rows: the first route that matches an alert names its notifier and the fallbacks after
   it; a delivery row per alert is written (the notifier's `wants` drops first sightings and the like);
2. groups: a destination's pending deliveries wait `group_wait` from the oldest one, then go out as
   one message ("4 channels down: ..."), oldest first. With a notifier that threads (Slack bot, e-mail),
   alerts about an incident that already has a message update that message and reply under it;
3. retries a failed send with backoff (1 s doubling to 5 min, or the notifier's Retry-After); a
   permanent error (bad token, deleted channel) marks the notifier broken (status page, metric, log)
   and hands its alerts to the next notifier of their route at once; a notifier failing for
   `fallback_after` does the same. When a failing notifier works again it is told what went where.

Delivery is at least once, in order per destination; a restart during a Slack outage loses nothing
(pending rows stay pending). The log notifier is not routed: it logs every alert when it is published.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

from sqlalchemy.engine import Engine

from alerts import routing
from alerts.base import Alert, Batch, Delivery, Notifier, NotifyError, Thread
from alerts.config import Alerts
from alerts.routing import (
    DestinationHealth,
    alert_from_payload,
    alert_from_row,
    alert_row,
    by_thread,
    dedupe,
    default_routes,
    due_at,
    next_in_chain,
    route_chain,
)
from monitor.core.redact import scrub
from monitor.outbox import OutboxLoop
from monitor.store import alerts as store
from monitor.store import leases
from monitor.store.models import AlertDeliveryRow, AlertThreadRow

log = logging.getLogger("monitor.alerts")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 300.0
BATCH_MAX = 50  # alerts in one message at most
SEND_TIMEOUT = 60.0  # a notifier hanging longer than this counts as a temporary failure
# A destination's lease: renewed every LEASE_RENEW seconds while its holder sends (however long a notifier takes, up
# to SEND_TIMEOUT), so another relay takes over a dead holder's destinations within LEASE_TTL.
LEASE_TTL = 20.0
LEASE_RENEW = 5.0
ROUTE_BATCH = 1000  # outbox rows routed per round; a full batch means more are waiting
# The router sleeps until a retry or a group window is due, or the result writer wakes it (new alerts):
# monitor/outbox.py's loop, shared with the failover relay.


class AlertRouter:
    """Routes, groups and delivers the outbox; one instance per service."""

    def __init__(
        self,
        engine: Engine,
        config: Alerts,
        notifiers: Mapping[str, Notifier],
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[str, str], None] = lambda dest, outcome: None,
        *,
        holder: str = "local",
        lease_ttl: float = LEASE_TTL,
        lease_renew: float = LEASE_RENEW,
    ) -> None:
        self.engine = engine
        # Several relays may share one database: each destination is sent by one of them at a time (a lease
        # per destination, monitor/store/leases.py), so an incident's messages stay in one thread. A single
        # process (`--role all`) is the only relay of its database: its stable name renews its own lease at
        # once after a restart, even a SIGKILL.
        self.holder, self.lease_ttl, self.lease_renew = holder, lease_ttl, lease_renew
        self.config = config
        self.notifiers = dict(notifiers)
        self.routes = default_routes(config.routes, self.notifiers)
        self.clock = clock
        self.on_outcome = on_outcome
        self.health: dict[str, DestinationHealth] = {name: DestinationHealth() for name in self.notifiers}
        self.loop = OutboxLoop("alert-router", self._round, clock)

    # -------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.loop.start()

    def wake(self) -> None:
        self.loop.wake()

    async def stop(self, grace: float = 5.0) -> None:
        """Finish the round in progress (at most `grace` s); what is still pending is sent after a restart."""
        await self.loop.stop(grace)
        with suppress(Exception):  # the database may be what is failing; the leases then expire by themselves
            await asyncio.to_thread(leases.let_go, self.engine, self.holder)
        for notifier in self.notifiers.values():
            with suppress(Exception):
                await notifier.close()

    @property
    def problems(self) -> dict[str, str]:
        """Notifiers that are broken or failing, for public pages (see alerts/routing.py)."""
        return routing.problems(self.health)

    def problem_details(self) -> dict[str, dict[str, Any]]:
        """Every notifier's delivery health with the (scrubbed) error, for the admin API."""
        return routing.problem_details(self.health)

    async def _round(self) -> float | None:
        """Route new outbox rows, send what is due; when to look again (a full batch routed: at once)."""
        routed = await asyncio.to_thread(self.route_new)
        due = await self.deliver_due()
        return self.clock() if routed == ROUTE_BATCH else due

    # ---------------------------------------------------------------------------------- routing

    def route_new(self) -> int:
        """Turn new outbox rows into delivery rows; return how many alerts were routed."""
        rows = store.unrouted(self.engine, ROUTE_BATCH)
        if not rows:
            return 0
        deliveries = []
        for row in rows:
            alert = alert_from_row(row)
            chain = self._chain(alert)
            if chain and self.notifiers[chain[0]].wants(alert):
                deliveries.append(store.NewDelivery(row.id, chain[0], chain[1:], row.at))
        store.mark_routed(self.engine, [r.id for r in rows], deliveries)
        return len(rows)

    def _chain(self, alert: Alert) -> list[str]:
        return route_chain(self.routes, self.notifiers, alert)

    # --------------------------------------------------------------------------------- delivery

    async def deliver_due(self) -> float | None:
        """Send what each destination has waiting, if its group window has closed; return when to look
        again (None: only when woken).

        After a send that is now: its outcome (sent, a retry scheduled, more than one batch waiting)
        is read by the next round. Otherwise it is the earliest moment a destination's rows fall due.
        A notifier failing for `fallback_after` hands the alerts it was retrying to the next notifier
        at that moment, not at its next retry (retries back off up to 5 minutes, or a Retry-After).
        """
        now = self.clock()
        pending = await asyncio.to_thread(self._pending)
        look_again: float | None = None
        for destination, rows in pending.items():
            if destination not in self.notifiers or self.health[destination].broken:
                await asyncio.to_thread(self._fall_back, rows, f"{destination} is not delivering")  # wakes us
                continue
            health = self.health[destination]
            retrying = [(r, a) for r, a in rows if r.attempts]
            if health.failing_since is not None and retrying:
                give_up_at = health.failing_since + self.config.fallback_after
                if give_up_at <= now:
                    why = f"{destination} failing for over {self.config.fallback_after:g}s: {health.last_error}"
                    await asyncio.to_thread(self._fall_back, retrying, why)  # wakes us for what is left
                    continue
                look_again = give_up_at if look_again is None else min(look_again, give_up_at)
            at = due_at(rows, self.config.group_wait)
            if at <= now:
                held, taken = await asyncio.to_thread(leases.hold, self.engine, f"alerts:{destination}", self.holder, now, self.lease_ttl)
                if not held:  # another relay sends this destination's alerts; it may die: look again
                    at = now + self.lease_ttl / 3
                elif taken:  # just taken over: read what is pending afresh under the lease (the last holder may have sent some)
                    at = now
                else:
                    await self._send_holding(destination, rows[:BATCH_MAX])
                    at = now
            look_again = at if look_again is None else min(look_again, at)
        return look_again

    def _pending(self) -> dict[str, list[tuple[AlertDeliveryRow, Alert]]]:
        """Pending deliveries with their alerts, per destination (oldest first)."""
        out: dict[str, list[tuple[AlertDeliveryRow, Alert]]] = {}
        for delivery, payload in store.pending_deliveries(self.engine):
            out.setdefault(delivery.destination, []).append((delivery, alert_from_payload(payload, delivery.alert_id)))
        return out

    async def _send_holding(self, destination: str, rows: list[tuple[AlertDeliveryRow, Alert]]) -> int:
        """_send, renewing the destination's lease while it runs."""
        renew = asyncio.create_task(self._renew(f"alerts:{destination}"), name=f"lease-{destination}")
        try:
            return await self._send(destination, rows)
        finally:
            renew.cancel()
            await asyncio.gather(renew, return_exceptions=True)

    async def _renew(self, name: str) -> None:
        while True:
            await asyncio.sleep(self.lease_renew)
            try:
                await asyncio.to_thread(leases.hold, self.engine, name, self.holder, self.clock(), self.lease_ttl)
            except Exception as exc:  # the database is away: the send goes on; its outcome is stored or re-sent
                log.warning("alert router %s: could not renew the lease %s (%s)", self.holder, name, exc)

    async def _send(self, destination: str, rows: list[tuple[AlertDeliveryRow, Alert]]) -> int:
        notifier = self.notifiers[destination]
        alerts = dedupe([a for _, a in rows])
        groups = await asyncio.to_thread(self._thread_groups, destination, notifier, alerts)
        messages = 0
        for thread, group in groups:
            batch = Batch(tuple(group), destination, self.config.status_url)
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    delivery = await notifier.send(batch, thread)
            except (NotifyError, TimeoutError) as exc:
                error = exc if isinstance(exc, NotifyError) else NotifyError(f"no answer within {SEND_TIMEOUT:g}s")
                await asyncio.to_thread(self._failed, destination, rows, error)
                return messages
            except Exception as exc:  # a notifier bug: treated as a temporary failure, with its traceback
                log.exception("notifier %s crashed", destination)
                await asyncio.to_thread(self._failed, destination, rows, NotifyError(f"notifier error: {type(exc).__name__}"))
                return messages
            messages += 1
            ids = {a.id for a in group}
            await asyncio.to_thread(
                self._sent, destination, [r for r, a in rows if a.id in ids or a.id not in {x.id for x in alerts}], group, thread, delivery
            )
        await self._recovered(destination)
        return messages

    def _thread_groups(self, destination: str, notifier: Notifier, alerts: list[Alert]) -> list[tuple[Thread | None, list[Alert]]]:
        """Alerts whose incident has a message already go to that message; the rest make a new one."""
        if not notifier.threads:
            return [(None, alerts)]
        keys = sorted({a.key for a in alerts if a.key})
        known: dict[str, AlertThreadRow] = store.threads(self.engine, destination, keys) if keys else {}
        by_ref, fresh = by_thread(alerts, {key: t.ref for key, t in known.items()})
        groups: list[tuple[Thread | None, list[Alert]]] = []
        for ref, group in by_ref.items():
            covered = sorted({i for t in known.values() if t.ref == ref for i in json.loads(t.alert_ids)})
            groups.append((Thread(ref, tuple(self._alerts(covered))), group))
        if fresh:
            groups.append((None, fresh))
        return groups

    def _alerts(self, ids: list[int]) -> list[Alert]:
        if not ids:
            return []
        return [alert_from_row(r) for r in store.alert_payloads(self.engine, ids)]

    def _sent(self, destination: str, rows: list[AlertDeliveryRow], group: list[Alert], thread: Thread | None, delivery: Delivery) -> None:
        now = self.clock()
        ref = delivery.ref or (thread.ref if thread else None)
        covered = [a.id for a in thread.alerts] if thread else []
        covered += [a.id for a in group]
        keys = {a.key for a in group if a.key} | ({a.key for a in thread.alerts if a.key} if thread else set())
        store.mark_sent(self.engine, [r.id for r in rows], now, ref, destination, sorted(keys), covered)
        for _ in rows:
            self.on_outcome(destination, "sent")

    def _failed(self, destination: str, rows: list[tuple[AlertDeliveryRow, Alert]], error: NotifyError) -> None:
        now = self.clock()
        health = self.health[destination]
        # Whatever the receiver answered (and the notifier quoted) loses every configured secret first.
        error = NotifyError(
            scrub(str(error), self.notifiers[destination].secrets), permanent=error.permanent, retry_after=error.retry_after
        )
        health.last_error = str(error)[:300]
        if health.failing_since is None:
            health.failing_since = now
            log.warning("notifier %s failing: %s", destination, error)
        if error.permanent:
            health.broken = str(error)[:300]
            log.error("notifier %s cannot deliver (permanent, not retried): %s", destination, error)
        self.on_outcome(destination, "permanent" if error.permanent else "failed")
        give_up = error.permanent or now - health.failing_since >= self.config.fallback_after
        if give_up:
            self._fall_back(rows, f"{destination}: {error}")
            return
        retries = [
            store.Retry(
                r.id,
                r.attempts + 1,
                now + max(error.retry_after or 0.0, min(BACKOFF_MAX, BACKOFF_FIRST * 2**r.attempts)),
                r.first_failed_at or now,
            )
            for r, _ in rows
        ]
        store.schedule_retries(self.engine, retries, str(error))

    def _fall_back(self, rows: list[tuple[AlertDeliveryRow, Alert]], why: str) -> None:
        """Hand alerts to the next notifier of their route (or record that none is left)."""
        now = self.clock()
        handovers = []
        for r, _ in rows:
            found = next_in_chain(json.loads(r.chain), [n for n in self.notifiers if not self.health[n].broken])
            then = store.NewDelivery(r.alert_id, found[0], found[1], now) if found else None
            handovers.append(store.Handover(r.id, then))
        store.hand_over(self.engine, handovers, why)
        for (r, alert), handover in zip(rows, handovers, strict=True):
            if handover.then:
                self.health[r.destination].fell_back += 1 if r.destination in self.health else 0
            else:
                log.error("alert %s (%s) could not be delivered anywhere: %s", r.alert_id, alert.summary, why)
        self.wake()

    async def _recovered(self, destination: str) -> None:
        """A notifier that had been failing works again: tell it what went where meanwhile."""
        health = self.health[destination]
        if health.failing_since is None:
            return
        since, handed = health.failing_since, health.fell_back
        self.health[destination] = DestinationHealth()
        log.info("notifier %s delivers again", destination)
        if not handed:
            return  # a short hiccup: the retries delivered everything, nobody needs a report
        detail = (
            f"Alerts to {destination} failed from {time.strftime('%H:%M:%S UTC', time.gmtime(since))} until now ({health.last_error}); "
        )
        detail += f"{handed} alerts went to the next notifier of their route meanwhile"
        notice = Alert(destination, destination, "", "", self.clock(), {}, event="notifier_recovered", detail=detail)
        try:
            await self.notifiers[destination].send(Batch((notice,), destination, self.config.status_url), None)
        except NotifyError as exc:
            log.warning("notifier %s: could not send the recovery report: %s", destination, exc)


__all__ = ["AlertRouter", "DestinationHealth", "alert_row", "alert_from_row", "due_at"]
