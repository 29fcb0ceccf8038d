"""The running monitor: storage, writer, HTTP session, runner and scheduler, started and stopped together."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from alerts.base import Alert, Notifier, NotifierContext
from alerts.log import LogNotifier
from alerts.router import AlertRouter, alert_row
from monitor import db_gauges
from monitor.config import Channel, Check, Config
from monitor.connectivity import ConnectivityGuard
from monitor.failover.actions import ActuatorContext
from monitor.failover.engine import FailoverEngine, Owner
from monitor.failover.gate import HealthView
from monitor.failover.relay import ActionRelay
from monitor.health import ChannelHealth, Context, FlapEvent, Override, State, Transition
from monitor.maintenance import Window, active
from monitor.metrics import SERVICE_LOG, Metrics
from monitor.redact import secret_values
from monitor.runner import Runner, run_probe
from monitor.scheduler import CheckScheduler
from monitor.store.db import ensure_data_dir, make_engine
from monitor.store.persist import delete_window, load_check_progress, load_overrides, load_windows, save_override, save_window
from monitor.store.queries import IncidentStarts, load_channel_states, load_incident_starts
from monitor.store.rollups import roll_up_and_retain
from monitor.store.writer import ResultWriter
from probes.base import ProbeKind
from probes.guard import NetworkGuard
from probes.session import USER_AGENT, create_http_session, create_outbound_session

log = logging.getLogger("monitor")
UPKEEP_INTERVAL = 300.0  # seconds between runs of rollups and retention
DB_GAUGES_INTERVAL = 60.0  # seconds between readings of uptime, open incidents and applied values for /metrics
DB_GAUGES_UPTIME_AGE = 15.0  # a wake reads uptime too when the last uptime reading is this old (as the pages)
DB_GAUGES_MIN_GAP = 1.0  # at most one such reading a second, however many state changes wake it (a flap storm)
# The owner of the "is it us?" control checks: not a sales channel, never shown as one.
CONTROL = Channel(id="monitor-connectivity", name="Monitor connectivity", checks=[Check(kind="control", target="-")])


class MonitorService:
    """Everything that runs in the background; the web app only reads from it."""

    def __init__(self, config: Config, probes: Mapping[str, ProbeKind], metrics: Metrics,
                 clock: Callable[[], float] = time.time, *, flush_interval: float = 0.5,
                 notifiers: Sequence[Notifier] | None = None, actuators: Mapping[str, Any] | None = None) -> None:
        self.config = config
        if actuators is None:
            from monitor.failover.actuators import ACTUATORS as actuators  # the built-in registry
        self.actuator_kinds = actuators
        self.probes = probes
        self.metrics = metrics
        self.clock = clock
        self.flush_interval = flush_interval
        self.extra_notifiers = list(notifiers or [])  # built elsewhere (tests): routed like configured ones
        self.log_notifier = LogNotifier()
        self._connectivity_since: float | None = None
        self._flapping_key: dict[str, str] = {}  # the alert thread of each flapping channel
        self._last_tick: float | None = None
        self.started_at = clock()
        self.channels: dict[str, Channel] = {c.id: c for c in config.channels}
        self.health: dict[str, ChannelHealth] = {}
        self._inflight: set[asyncio.Task] = set()
        # Admin changes (overrides, windows, approvals, freezes) are stored in a thread, then applied: one at
        # a time, so that the stored order and the applied order are the same (two PUTs racing could otherwise
        # leave the last stored override different from the one in force until a restart).
        self._admin_lock = asyncio.Lock()
        self._writer_task: asyncio.Task | None = None
        self._tick_task: asyncio.Task | None = None
        self._upkeep_task: asyncio.Task | None = None
        self._upkeep_wake = asyncio.Event()
        self._gauges_task: asyncio.Task | None = None
        self._gauges_wake = asyncio.Event()
        self._failover_task: asyncio.Task | None = None
        self._failover_again = False
        self._stopping = False
        # Maintenance windows per channel (config now; the admin API adds more) and manual overrides.
        self.windows: dict[str, list[Window]] = {c.id: [w.window() for w in c.maintenance] for c in config.channels}
        self.overrides: dict[str, Override] = {}
        self.guard = ConnectivityGuard(config.connectivity.max_failing_share, config.connectivity.min_channels,
                                       config.defaults.fail_threshold)

    async def start(self) -> None:
        """Open storage, resume stored states and start probing."""
        if self.config.database_url is None:
            ensure_data_dir(Path(self.config.data_dir))
        self.engine = await asyncio.to_thread(make_engine, self.config.db_url)
        stored = await asyncio.to_thread(load_channel_states, self.engine)
        incidents = await asyncio.to_thread(load_incident_starts, self.engine)
        progress = await asyncio.to_thread(load_check_progress, self.engine)
        self.overrides = await asyncio.to_thread(load_overrides, self.engine, self.clock())
        for channel_id, windows in (await asyncio.to_thread(load_windows, self.engine, self.clock())).items():
            if channel_id in self.windows:
                self.windows[channel_id].extend(windows)
        for channel in self.config.channels:
            health = ChannelHealth(channel.id, self.config.rules(channel))
            if channel.id in stored:
                s = stored[channel.id]
                i = incidents.get(channel.id, IncidentStarts())
                health.restore(State(s.state), s.since, [c.id or c.kind for c in channel.checks], s.cause,
                               incident_since=i.open_since, last_incident=i.last)
            for check in channel.checks:  # threshold progress as last flushed (SIGKILL loses at most one flush)
                if (channel.id, check.id) in progress:
                    health.checks[check.id or check.kind] = progress[(channel.id, check.id)]
            self.health[channel.id] = health
            self.metrics.set_channel_state(channel.id, health.state)
            self.metrics.flapping.set((channel.id,), 0)
        # One guard for every outbound connection: probes, notifiers and actuators (allow_networks).
        self.net_guard = NetworkGuard(self.config.allow_networks)
        self.outbound = create_outbound_session(USER_AGENT, self.net_guard)
        notifiers = self._build_notifiers()
        self.alerts = AlertRouter(self.engine, self.config.alerts, notifiers, self.clock, on_outcome=self._alert_outcome)
        self.metrics.shortest_interval.set(min(k.interval_seconds for c in self.config.channels for k in c.checks))
        self.metrics.start_at_zero([(c.id, k.id or k.kind, k.kind) for c in self.config.channels for k in c.checks],
                                   [SERVICE_LOG, *notifiers], [a.id for a in self.config.failover.actuators])
        self.alerts.start()
        self.failover = FailoverEngine(self.config.failover, self.engine, {c.id: c.name for c in self.config.channels})
        await asyncio.to_thread(self.failover.load, self.clock())
        self._failover_metrics()
        # Actuators share the notifiers' outbound session: behind the same guard (the seller's own systems on
        # a private network are reached through allow_networks), pooled, and no redirect followed.
        kinds = {a.id: (self.actuator_kinds[a.kind], a.options) for a in self.config.failover.actuators}
        self.relay = ActionRelay(self.failover, kinds, ActuatorContext(self.outbound, logging.getLogger("monitor.actuators"),
                                 self.clock), self.clock, on_event=self._failover_event, on_outcome=self._action_outcome)
        await self.relay.start()
        self.writer = ResultWriter(self.engine, flush_interval=self.flush_interval, on_flush=self._on_flush,
                                   on_alerts=lambda: self.alerts.wake(), on_transitions=self._gauges_wake.set)
        self._writer_task = asyncio.create_task(self.writer.run(), name="result-writer")
        self._upkeep_task = asyncio.create_task(self._upkeep_forever(), name="rollups-retention")
        self._gauges_task = asyncio.create_task(self._db_gauges_forever(), name="db-gauges")
        self.metrics.writer_queue.set_function(lambda: self.writer.depth)  # read at scrape time
        guard = self.net_guard
        self.http = create_http_session(USER_AGENT, guard)
        self.runner = Runner(self.probes, self.http, self.health, self.writer, self.metrics, self.clock, self._on_event,
                             guard, self.context, self._on_result)
        self._tick_task = asyncio.create_task(self._tick_forever(), name="health-tick")
        jobs = [(channel, check, self._run_tracked) for channel in self.config.channels for check in channel.checks]
        jobs += [(CONTROL, check, self._run_control) for check in self.config.connectivity.checks]
        self.scheduler = CheckScheduler(jobs, self.metrics)
        self.scheduler.start()
        log.info("monitoring %d channels with %d checks", len(self.channels),
                 sum(len(c.checks) for c in self.config.channels))

    async def stop(self) -> None:
        """Stop probing, then write every buffered result before closing storage."""
        self._stopping = True
        self.scheduler.shutdown()
        if self._tick_task:
            self._tick_task.cancel()
        for task in list(self._inflight):
            task.cancel()  # a probe cut off by shutdown has no result worth storing
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._upkeep_task:
            self._upkeep_wake.set()
            await self._upkeep_task  # it ends after its current transaction; none is cut off
        if self._gauges_task:
            self._gauges_wake.set()
            await self._gauges_task
        await self.http.close()
        if self._failover_task:
            await asyncio.gather(self._failover_task, return_exceptions=True)
        await self.relay.stop()
        await self.alerts.stop()
        await self.outbound.close()
        if self._writer_task:
            self._writer_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._writer_task
        await self.writer.flush()
        self.engine.dispose()

    @property
    def healthy(self) -> bool:
        """True while probing and writing work (what /healthz reports)."""
        writer_alive = self._writer_task is not None and not self._writer_task.done()
        ticking = self._tick_task is not None and not self._tick_task.done()
        return self.scheduler.running and writer_alive and ticking and not self.writer.failing

    async def _run_tracked(self, channel: Channel, check: Check) -> None:
        await self._tracked(self.runner.run_check(channel, check))

    async def _tracked(self, work: Awaitable[None]) -> None:
        """Run a probe so that stop() can cut it off (channel checks and control checks alike)."""
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await work
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cut off by shutdown: end quietly instead of letting APScheduler log it as a crash.
        finally:
            self._inflight.discard(task)

    async def _upkeep_forever(self) -> None:
        """Every UPKEEP_INTERVAL, off the event loop: count new results into rollups, then apply retention.

        A task of its own, not a scheduler job: a run never overlaps the next, never counts as a check's
        scheduling lag, and stop() waits for its current transaction instead of abandoning its thread.
        """
        while not self._stopping:
            try:
                done = await asyncio.to_thread(roll_up_and_retain, self.engine, self.clock(), self.config.retention,
                                               lambda: self._stopping)
                log.debug("rollups and retention: %s", done.describe())
            except SQLAlchemyError as exc:  # the database is down: the result writer reports it too
                log.error("rollups and retention failed, trying again in %gs: %s", UPKEEP_INTERVAL, exc)
            except Exception:
                log.exception("rollups and retention crashed, trying again in %gs", UPKEEP_INTERVAL)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._upkeep_wake.wait(), UPKEEP_INTERVAL)

    async def _db_gauges_forever(self) -> None:
        """Keep the database-backed gauges of /metrics fresh: every DB_GAUGES_INTERVAL, and when woken (the
        writer stored a state change, so an incident opened or closed; an action was acknowledged). Uptime,
        the costly sum (about 0.2 s at 1,000 channels), at most every DB_GAUGES_UPTIME_AGE: a flap storm's
        wakes read the cheap rest."""
        uptime_at = -math.inf
        while not self._stopping:
            self._gauges_wake.clear()  # before reading: a wake during the reading asks for another one
            with_uptime = time.monotonic() - uptime_at >= DB_GAUGES_UPTIME_AGE
            try:
                reading = await asyncio.to_thread(db_gauges.read, self.engine, self.clock(), uptime=with_uptime)
                db_gauges.apply(self.metrics, reading, self.channels, self._failover_places())
            except SQLAlchemyError as exc:  # the database is down: the result writer reports it too
                log.warning("reading uptime for /metrics failed, trying again in %gs: %s", DB_GAUGES_INTERVAL, exc)
            except Exception:
                log.exception("reading uptime for /metrics crashed, trying again in %gs", DB_GAUGES_INTERVAL)
            read_at = time.monotonic()
            if with_uptime:
                uptime_at = read_at
            with suppress(TimeoutError):
                await asyncio.wait_for(self._gauges_wake.wait(), DB_GAUGES_INTERVAL)
            gap = read_at + DB_GAUGES_MIN_GAP - time.monotonic()
            if gap > 0 and not self._stopping:
                await asyncio.sleep(gap)

    def _on_flush(self, written: int, dropped: int) -> None:
        self.metrics.results_written.inc(written)
        self.metrics.results_dropped.set(dropped)

    def context(self, channel: str, now: float) -> Context:
        """What besides its checks decides a channel's state right now."""
        override = self.overrides.get(channel)
        if override is not None and not override.active_at(now):
            del self.overrides[channel]
            override = None
        return Context(maintenance=active(self.windows[channel], now), override=override, frozen=self.guard.lost)

    async def set_override(self, channel: str, override: Override | None) -> None:
        """Force a channel's state (None lifts it); stored, then applied at once."""
        async with self._admin_lock:
            await asyncio.to_thread(save_override, self.engine, channel, override, self.clock())
            if override is None:
                self.overrides.pop(channel, None)
            else:
                self.overrides[channel] = override
            self._apply_now(channel)

    async def add_window(self, channel: str, window: Window) -> int:
        """Add a maintenance window; stored, then applied at once if it has begun. Return its id (to cancel it)."""
        async with self._admin_lock:
            window_id = await asyncio.to_thread(save_window, self.engine, channel, window, self.clock())
            self.windows[channel].append(replace(window, id=window_id))
            self._apply_now(channel)
            return window_id

    async def remove_window(self, channel: str, window_id: int) -> bool:
        """Cancel a window added through the admin API; deleted, then applied at once. False: no such window."""
        async with self._admin_lock:
            window = await asyncio.to_thread(delete_window, self.engine, channel, window_id)
            if window in self.windows[channel]:  # (None, no such window, never is)
                self.windows[channel].remove(window)
                self._apply_now(channel)
            return window is not None

    def _apply_now(self, channel: str) -> None:
        now = self.clock()
        transition = self.health[channel].tick(now, self.context(channel, now))
        if transition is not None:
            self._on_event(transition)

    @property
    def connectivity_lost(self) -> bool:
        return self.guard.lost

    async def _run_control(self, _owner: Channel, check: Check) -> None:
        await self._tracked(self._control(check))

    async def _control(self, check: Check) -> None:
        """Probe a control target: its results only feed the "is it us?" guard."""
        outcome = await run_probe(self.probes[check.kind], CONTROL, check, self.http, self.clock, self.runner.guard)
        self.runner.latest[(CONTROL.id, check.id or check.kind)] = outcome
        self._connectivity_changed(self.guard.control_result(check.id or check.kind, outcome.result.ok), outcome.at)

    def _on_result(self, channel: str, check: str, failed: bool, needed: int, excluded: bool, at: float) -> None:
        self._connectivity_changed(self.guard.channel_result(channel, check, failed, needed, excluded), at)

    def _connectivity_changed(self, lost: bool | None, at: float) -> None:
        if lost is None:
            return
        self.metrics.connectivity_lost.set(1 if lost else 0)
        if lost:
            self._connectivity_since = at
        key = f"connectivity:{int(self._connectivity_since or at)}"
        self.publish(Alert(CONTROL.id, "Monitor", "", "", at, {}, detail=self.guard.reason or "probes answer again",
                           event="connectivity_lost" if lost else "connectivity_restored", key=key))

    async def _tick_forever(self, every: float = 1.0) -> None:
        """Apply time-driven changes (maintenance starting or ending, overrides expiring) between results."""
        while True:
            await asyncio.sleep(every)
            now = self.clock()
            for channel, health in self.health.items():
                try:
                    transition = health.tick(now, self.context(channel, now))
                    if transition is not None:
                        self._on_event(transition)
                except Exception:  # one channel's bug must not stop maintenance and overrides for all
                    log.exception("health tick failed for %s", channel)
            self.failover_soon()  # hold-down and failback timers run out between results
            self._remind(now)

    def _on_event(self, event: Transition | FlapEvent) -> None:
        name = self.channels[event.channel].name
        if isinstance(event, FlapEvent):
            # The changes made while flapping were not announced, so the end says where it settled.
            settled = "" if event.started else f"; now {self.health[event.channel].state.value}"
            self.metrics.flapping.set((event.channel,), 1 if event.started else 0)
            if event.started or event.channel not in self._flapping_key:
                # In the thread of the channel's incident (flapping keeps it going), else one of its own.
                incident = self.health[event.channel].incident_since(event.at)
                self._flapping_key[event.channel] = (f"down:{event.channel}:{int(incident)}" if incident is not None
                                                     else f"flapping:{event.channel}:{int(event.at)}")
            key = self._flapping_key[event.channel] if event.started else self._flapping_key.pop(event.channel)
            self.publish(Alert(event.channel, name, "", "", event.at, {}, key=key, event=(
                "flapping_started" if event.started else "flapping_stopped"),
                detail=f"{event.percent:.0f}% state changes{settled}"))
            return
        self.writer.add_transition(event)
        self.metrics.set_channel_state(event.channel, event.new)
        self.failover_soon()
        recovered = event.new not in (State.DOWN, State.MAINTENANCE) and event.down_since is not None
        down_for = event.at - event.down_since if recovered else None  # maintenance in between included
        self.publish(Alert(event.channel, name, event.old.value, event.new.value, event.at, event.cause,
                           down_for=down_for, flapping=event.flapping,
                           key=f"down:{event.channel}:{int(event.down_since)}" if event.down_since is not None else ""))

    # ------------------------------------------------------------------------------------ failover

    def failover_soon(self) -> None:
        """Run a failover step now, or right after the one running (steps never overlap)."""
        if not self.failover.enabled or self._stopping:
            return
        if self._failover_task is not None and not self._failover_task.done():
            self._failover_again = True
            return
        self._failover_task = asyncio.create_task(self._failover_step(), name="failover-step")

    def health_views(self) -> dict[str, HealthView]:
        return {c: HealthView(h.state, h.since if h.since is not None else self.started_at, h.flap.flapping,
                              "override_by" in h.cause, dict(h.cause), h.down_since) for c, h in self.health.items()}

    async def _failover_step(self) -> None:
        while True:
            self._failover_again = False
            try:
                decision = self.failover.evaluate(self.clock(), self.health_views(), self.guard.lost)
                if not decision.empty:
                    # The state changes (and their alerts) that led here are stored first, so that the
                    # outbox keeps "Facebook down" before "promotion moved".
                    await self.writer.flush()
                    # The alerts a decision causes are stored in its own transaction: a crash right after
                    # the commit cannot lose "promotion moved" while its actions go out.
                    alerts = [self._failover_alert(*e) for e in decision.events]
                    rows = [alert_row(a) for a in alerts] if self._alerting else []
                    await asyncio.to_thread(self.failover.commit, decision, rows)
                    # Woken first: the relay and the router sleep until woken, and nothing below may stop that.
                    self.relay.wake()
                    if rows:
                        self.alerts.wake()
                    for alert in alerts:
                        self.publish(alert, stored=True)
                    self._failover_metrics()
            except SQLAlchemyError as exc:  # nothing was committed: the next step decides again
                log.error("failover step could not be stored, trying again: %s", exc)
            except Exception:
                log.exception("failover step failed")
            if not self._failover_again or self._stopping:
                return

    def _failover_places(self) -> set[tuple[str, str, str]]:
        """(kind, owner, channel) of every configured promotion and notice place."""
        return {(*owner, channel) for owner in self.failover.owner_keys() for channel in self.failover.normal(owner)}

    def _failover_alert(self, event: str, owner: Owner, detail: str, key: str = "") -> Alert:
        kind, name = owner
        label = (self.failover.promotions[name].name if kind == "promotion" and name in self.failover.promotions
                 else f"customer notice {name}" if kind == "notice" else name)
        # In the thread of the outage that moved it (the relay's events too), else one of the owner's own.
        key = key or self.failover.episodes.get(owner) or f"failover:{name}"
        return self._labelled(Alert(name, label, "", "", self.clock(), {}, event=event, detail=detail, key=key))

    def _failover_event(self, event: str, owner: Owner, detail: str, key: str = "") -> None:
        """An event of the relay (an action failed, a conflict froze a promotion), after its own commit."""
        self.publish(self._failover_alert(event, owner, detail, key))
        self._failover_metrics()

    def _action_outcome(self, actuator: str, outcome: str, _seconds: float) -> None:
        self.metrics.actions.labels(actuator, outcome).inc()
        self._gauges_wake.set()  # an applied value may have changed

    def _failover_metrics(self) -> None:
        for channel in self.channels:
            self.metrics.failed_over.set((channel,), 1 if self.failover.gates.get(channel) else 0)
        for (kind, owner), values in self.failover.planned.items():
            normal = self.failover.normal((kind, owner))
            for channel, value in values.items():
                self.metrics.planned_amount.labels(kind, owner, channel).set(value)
                self.metrics.normal_amount.labels(kind, owner, channel).set(normal.get(channel, 0))
            status = self.failover.owners.get((kind, owner))
            self.metrics.failover_frozen.labels(kind, owner).set(1 if status and status.frozen else 0)
            self.metrics.failover_pending_approval.labels(kind, owner).set(1 if (kind, owner) in self.failover.pending else 0)

    async def approve_plan(self, plan_id: int, by: str) -> Any:
        """Carry out a plan waiting for approval (admin API)."""
        async with self._admin_lock:  # two approvals of one plan: the second finds it approved already
            draft = await asyncio.to_thread(self.failover.approve, plan_id, by, self.clock())
        self.relay.wake()
        self._failover_metrics()
        return draft

    async def set_frozen(self, owner: Owner, frozen: bool, by: str, reason: str) -> None:
        """Freeze or unfreeze a promotion or notice (admin API); unfreezing lets failover catch up at once."""
        async with self._admin_lock:
            await asyncio.to_thread(self.failover.set_frozen, owner, frozen, by, reason, self.clock())
        self._failover_metrics()
        self.failover_soon()

    # -------------------------------------------------------------------------------------- alerts

    def _build_notifiers(self) -> dict[str, Notifier]:
        from alerts import NOTIFIERS  # the registry; config validation used the same one
        ctx = NotifierContext(logging.getLogger("monitor.alerts"), self.clock, self.outbound, self.net_guard)
        built: dict[str, Notifier] = {}
        for entry in self.config.alerts.notifiers:
            built[entry.id] = NOTIFIERS[entry.kind].build(entry.id, entry.options, ctx)
            built[entry.id].secrets = secret_values(entry.options)  # scrubbed from every error it reports
        for i, notifier in enumerate(self.extra_notifiers):
            built[notifier.id or f"extra-{i}"] = notifier
        return built

    @property
    def _alerting(self) -> bool:
        """True when alerts go anywhere besides the log (then they are stored in the outbox)."""
        return bool(self.config.alerts.notifiers or self.extra_notifiers)

    def _labelled(self, alert: Alert) -> Alert:
        """The alert with its channel's group and tags, which routes match on."""
        channel = self.channels.get(alert.channel)
        return replace(alert, group=channel.group, tags=tuple(channel.tags)) if channel is not None else alert

    def publish(self, alert: Alert, *, stored: bool = False) -> None:
        """Log an alert now and store it in the outbox (with the state change queued with it), unless it
        was `stored` already in the transaction of what caused it."""
        alert = self._labelled(alert)
        self.log_notifier.log(alert)
        self.metrics.alerts.labels(SERVICE_LOG, "sent").inc()
        if self._alerting and not stored:
            self.writer.add_alert(alert_row(alert))

    def _alert_outcome(self, destination: str, outcome: str) -> None:
        self.metrics.alerts.labels(destination, outcome).inc()

    def _remind(self, now: float) -> None:
        """While a channel stays down, a reminder every `alerts.reminder_every` (off by default)."""
        every, last = self.config.alerts.reminder_every, self._last_tick
        self._last_tick = now
        if not every or last is None:
            return
        for channel_id, health in self.health.items():
            if health.state is not State.DOWN or health.down_since is None:
                continue
            # Boundaries down_since + k * every crossed since the last tick: after a restart the count
            # goes on from the outage's start, so no reminder is repeated.
            if int((now - health.down_since) // every) > int((last - health.down_since) // every) and now - health.down_since >= every:
                self.publish(Alert(channel_id, self.channels[channel_id].name, "down", "down", now, dict(health.cause),
                                   down_for=now - health.down_since, event="reminder",
                                   key=f"down:{channel_id}:{int(health.down_since)}"))
