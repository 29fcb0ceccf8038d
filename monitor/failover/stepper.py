"""When failover decides: a step on every state change and every second (hold-down and failback timers),
never two at once; each decision committed with its alerts, then the relay and the router woken."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from alerts.base import Alert
from alerts.router import AlertRouter, alert_row
from monitor.channels import ChannelBook
from monitor.failover.engine import FailoverEngine, Owner
from monitor.failover.relay import ActionRelay
from monitor.metrics import Metrics
from monitor.reactions import AlertPublisher
from monitor.store.writer import ResultWriter

log = logging.getLogger("monitor")


class FailoverStepper:
    """Runs the engine's evaluate/commit cycle and keeps the failover gauges."""

    def __init__(
        self,
        engine: FailoverEngine,
        book: ChannelBook,
        writer: ResultWriter,
        publisher: AlertPublisher,
        metrics: Metrics,
        clock: Callable[[], float],
        admin_lock: asyncio.Lock,
    ) -> None:
        self.engine = engine
        self.book = book
        self.writer = writer
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self.admin_lock = admin_lock  # approvals and freezes, one at a time with the other admin changes
        self.relay: ActionRelay | None = None  # set once built: it reports its events to this stepper
        self.button_threads: dict[Owner, str] = {}  # the thread of each owner's last message with buttons
        self.router: AlertRouter | None = None
        self.on_action_outcome: Callable[[], None] = lambda: None  # an applied value may have changed
        self._task: asyncio.Task | None = None
        self._again = False
        self._stopping = False

    def soon(self) -> None:
        """Run a failover step now, or right after the one running (steps never overlap)."""
        if not self.engine.enabled or self._stopping:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._step(), name="failover-step")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _step(self) -> None:
        while True:
            self._again = False
            try:
                await self._decide()
            except SQLAlchemyError as exc:  # nothing was committed: the next step decides again
                log.error("failover step could not be stored, trying again: %s", exc)
            except Exception:
                log.exception("failover step failed")
            if not self._again or self._stopping:
                return

    async def _decide(self) -> None:
        decision = self.engine.evaluate(self.clock(), self.book.health_views(), self.book.frozen)
        if decision.empty:
            return
        # The state changes (and their alerts) that led here are stored first, so that the outbox keeps
        # "Facebook down" before "promotion moved".
        await self.writer.flush()
        # The alerts a decision causes are stored in its own transaction: a crash right after the commit
        # cannot lose "promotion moved" while its actions go out.
        alerts = [_with_buttons(self.alert(*e), e[1], decision) for e in decision.events]
        for alert, event in zip(alerts, decision.events, strict=True):
            if alert.event in BUTTON_EVENTS:
                self.button_threads[event[1]] = alert.key  # where a decision about it is said (and its buttons retired)
        rows = [alert_row(a) for a in alerts] if self.publisher.alerting else []
        await asyncio.to_thread(self.engine.commit, decision, rows)
        # Woken first: the relay and the router sleep until woken, and nothing below may stop that.
        if self.relay is not None:
            self.relay.wake()
        if rows and self.router is not None:
            self.router.wake()
        for alert in alerts:
            self.publisher.publish(alert, stored=True)
        self.update_metrics()

    def alert(self, event: str, owner: Owner, detail: str, key: str = "") -> Alert:
        """A failover alert, in the thread of the outage that moved the owner (else one of its own)."""
        kind, name = owner
        label = (
            self.engine.promotions[name].name
            if kind == "promotion" and name in self.engine.promotions
            else f"customer notice {name}"
            if kind == "notice"
            else name
        )
        key = key or self.engine.episodes.get(owner) or f"failover:{name}"
        return self.publisher.label(Alert(name, label, "", "", self.clock(), {}, event=event, detail=detail, key=key))

    def relay_event(self, event: str, owner: Owner, detail: str, key: str = "") -> None:
        """An event of the relay (an action failed, a conflict froze a promotion), after its own commit."""
        self.publisher.publish(self.alert(event, owner, detail, key))
        self.update_metrics()

    def action_outcome(self, actuator: str, outcome: str, _seconds: float) -> None:
        self.metrics.actions.labels(actuator, outcome).inc()
        self.on_action_outcome()

    def places(self) -> set[tuple[str, str, str]]:
        """(kind, owner, channel) of every configured promotion and notice place."""
        return {(*owner, channel) for owner in self.engine.owner_keys() for channel in self.engine.normal(owner)}

    def update_metrics(self) -> None:
        engine, metrics = self.engine, self.metrics
        for channel in self.book.channels:
            metrics.failed_over.set((channel,), 1 if engine.gates.get(channel) else 0)
        for (kind, owner), values in engine.planned.items():
            normal = engine.normal((kind, owner))
            for channel, value in values.items():
                metrics.planned_amount.labels(kind, owner, channel).set(value)
                metrics.normal_amount.labels(kind, owner, channel).set(normal.get(channel, 0))
            status = engine.owners.get((kind, owner))
            metrics.failover_frozen.labels(kind, owner).set(1 if status and status.frozen else 0)
            metrics.failover_pending_approval.labels(kind, owner).set(1 if (kind, owner) in engine.pending else 0)

    async def approve(self, plan_id: int, by: str) -> Any:
        """Carry out a plan waiting for approval (admin API)."""
        async with self.admin_lock:  # two approvals of one plan: the second finds it approved already
            draft = await asyncio.to_thread(self.engine.approve, plan_id, by, self.clock())
        if self.relay is not None:
            self.relay.wake()
        self.update_metrics()
        self._decided(draft.owner, f"plan {plan_id} approved by {by}")
        return draft

    def _decided(self, owner: Owner, what: str) -> None:
        """Say in the incident's thread who decided (Slack then takes the buttons for it away)."""
        alert = self.alert("failover_decided", owner, what, self.button_threads.get(owner, ""))
        self.publisher.publish(replace(alert, cause={"owner_kind": owner[0], "owner": owner[1], "decided": what}))

    async def reject(self, plan_id: int, by: str) -> Any:
        """Turn down a plan waiting for approval (admin API, Slack)."""
        async with self.admin_lock:
            draft = await asyncio.to_thread(self.engine.reject, plan_id, by, self.clock())
        self.update_metrics()
        self._decided(draft.owner, f"plan {plan_id} rejected by {by}")
        return draft

    async def set_frozen(self, owner: Owner, frozen: bool, by: str, reason: str) -> None:
        """Freeze or unfreeze a promotion or notice (admin API); unfreezing lets failover catch up at once."""
        async with self.admin_lock:
            await asyncio.to_thread(self.engine.set_frozen, owner, frozen, by, reason, self.clock())
        self.update_metrics()
        if frozen:
            self._decided(owner, f"frozen by {by}" + (f": {reason}" if reason else ""))
        self.soon()


BUTTON_EVENTS = ("failover_approval_needed", "failover_planned")


def _with_buttons(alert: Alert, owner: Owner, decision: Any) -> Alert:
    """What Slack's buttons on a failover message need (alerts/slack_blocks.py): the owner, and for a plan waiting
    for approval the allocation it would apply (a click approves that plan only if it is still the one waiting)."""
    if alert.event not in BUTTON_EVENTS:
        return alert
    cause: dict[str, str | None] = {"owner_kind": owner[0], "owner": owner[1]}
    if alert.event == "failover_approval_needed":
        draft = next((d for d in decision.plans if d.owner == owner and d.status == "pending_approval"), None)
        if draft is not None:
            cause["after"] = json.dumps(draft.after, sort_keys=True, separators=(",", ":"))
    return replace(alert, cause=cause)
