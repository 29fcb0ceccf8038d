"""The composition root: create_app() is the only place components are built and wired together.

Each resource has its own cleanup context, started in order and stopped in reverse: storage, the outbound
session, the result writer, the alert router, failover (engine, stepper, relay), the database loops, then
probing (session, pipeline, tick, scheduler). So probing stops first and the writer's last flush comes after
everything that can still produce a row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from alerts.base import Notifier, NotifierContext, NotifierKind
from alerts.router import AlertRouter
from monitor.admin_actions import AdminActions
from monitor.channels import ChannelBook, ConnectivityChange, Event, OverloadChange
from monitor.check_spec import CheckSpec
from monitor.commands import CommandRunner, RemoteAdmin
from monitor.config import Channel, Config
from monitor.core.http import USER_AGENT
from monitor.core.redact import secret_values
from monitor.decider import Decider
from monitor.demo import DemoWorld
from monitor.events import AlertMaker
from monitor.failover.actions import ActuatorContext, ActuatorKind
from monitor.failover.engine import FailoverEngine
from monitor.failover.relay import ActionRelay
from monitor.failover.stepper import FailoverStepper
from monitor.loop_watch import LoopWatch
from monitor.loops import DatabaseGauges, Tick, Upkeep
from monitor.metrics import SERVICE_LOG, Metrics
from monitor.mirror import Mirror
from monitor.pipeline import CONTROL, Pipeline
from monitor.prober import Prober, prober_id
from monitor.reactions import AlertPublisher, Reactions
from monitor.readmodel import DemoView, MonitorReadModel, web_settings
from monitor.registries import Registries
from monitor.running import MONITOR, Monitor
from monitor.scheduler import CheckScheduler, RunCheck
from monitor.store import failover_actions as action_store
from monitor.store import leases
from monitor.store.db import FENCE, ensure_data_dir, make_engine
from monitor.store.leadership import DECIDE, Leadership, fence
from monitor.store.persist import load_check_progress, load_overrides, load_windows
from monitor.store.queries import load_channel_states, load_incident_starts
from monitor.store.wakeups import OUTBOX, RESULTS, Listener, conninfo
from monitor.store.writer import ResultWriter
from monitor.votes import Observation, Votes, checks_of
from monitor.web.role_app import role_app
from monitor.web.routes import web_app
from probes.base import ProbeKind
from probes.guard import NetworkGuard
from probes.session import create_http_session, create_outbound_session

log = logging.getLogger("monitor")
LEADER_CHECK = 2.0  # seconds between checks that the decider's lock connection still works
DECIDER_HOLDER = "decide/"  # how the holder names of deciders begin (their leases and action claims)
Lifetime = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    config: Config,
    *,
    registries: Registries | None = None,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
    demo: DemoWorld | None = None,
    flush_interval: float = 0.5,
    notifiers: Sequence[Notifier] | None = None,
    leadership: Leadership | None = None,
    on_leadership_lost: Callable[[], None] = lambda: None,
) -> web.Application:
    """Build the web application; the monitor starts and stops with it.

    `registries` are the kinds to build from (the built-in ones by default: pass the same the config was
    loaded with); `notifiers` are extra, ready-made notifiers routed like configured ones (tests).
    `config.role` picks the parts (docs/distributed.md); a decider gets the `leadership` it won (it fences its
    writes with it, and calls `on_leadership_lost` if the lock goes)."""
    kinds = registries if registries is not None else Registries()
    registry = registry if registry is not None else CollectorRegistry()
    located = config.location if config.role == "probe" else None  # a prober's probe metrics say where they were taken
    monitor = Monitor(config, Metrics(registry, kinds.probes, located), clock, ChannelBook(config, clock()), clock())
    # Who holds this process's alert leases and action claims: one name for the lone process, so that it takes its
    # own back at a restart; a name per process when several relay (a dead one's run out, a live one's are kept).
    monitor.holder = "local" if config.role == "all" else prober_id(f"{config.role}-{config.location}")
    if leadership is not None:  # a decider's name says it decides, and under which epoch (see _take_over)
        monitor.holder = f"{DECIDER_HOLDER}{leadership.holder}#{leadership.epoch}"
    model = MonitorReadModel(monitor, kinds.probes)
    role = config.role
    if role in ("probe", "relay"):  # no channel states here: the decider's (or a web instance's) pages show them
        app = role_app(monitor.config.role, lambda: monitor.healthy, monitor.metrics.render)
    else:
        app = web_app(model, model, web_settings(config), demo=DemoView(demo) if demo is not None else None)
    app[MONITOR] = monitor
    if demo is not None:
        app.cleanup_ctx.append(_demo(demo))
    storage, writer = _storage(monitor, restore=role in ("all", "decide")), _writer(monitor, flush_interval)
    alerting = _alerting(monitor, kinds.notifiers, list(notifiers or []))
    parts: dict[str, tuple[Lifetime, ...]] = {
        "all": (storage, writer, alerting, _failover(monitor, kinds.actuators), _loops(monitor), _probing(monitor, kinds.probes)),
        "probe": (storage, writer, _network(monitor), _probing(monitor, kinds.probes, prober=True)),
        "relay": (storage, writer, alerting, _failover(monitor, kinds.actuators), _listening(monitor, OUTBOX, _wake_relays(monitor))),
        "web": (storage, _mirroring(monitor)),
    }
    if role == "decide":
        if leadership is None:
            raise ValueError("a decider is built with the leadership it won (monitor/clirun.py elects it)")
        parts["decide"] = (
            _leading(monitor, leadership, on_leadership_lost),
            storage,
            writer,
            alerting,
            _failover(monitor, kinds.actuators),
            _loops(monitor),
            _deciding(monitor, model),
            _listening(monitor, RESULTS, lambda: monitor.decider.wake()),
        )
    for lifetime in parts[role]:
        app.cleanup_ctx.append(lifetime)
    return app


def _demo(demo: DemoWorld) -> Lifetime:
    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        yield
        await demo.stop()  # after the monitor: its probes stop before the simulated channels do

    return lifetime


def _storage(m: Monitor, *, restore: bool = True) -> Lifetime:
    """The database: opened (and migrated), the stored states resumed into the book (by the roles that decide);
    disposed last."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        config, book = m.config, m.book
        if config.database_url is None:
            ensure_data_dir(Path(config.data_dir))
        m.engine = await asyncio.to_thread(make_engine, config.db_url)
        if m.fence is not None:
            m.engine.update_execution_options(**{FENCE: m.fence})  # each write transaction of this decider checks its epoch first
            await asyncio.to_thread(_take_over, m.engine, m.holder)
        if not restore:
            yield
            m.engine.dispose()
            return
        now = m.clock()
        book.restore(
            await asyncio.to_thread(load_channel_states, m.engine),
            await asyncio.to_thread(load_incident_starts, m.engine),
            await asyncio.to_thread(load_check_progress, m.engine),
            await asyncio.to_thread(load_overrides, m.engine, now),
            await asyncio.to_thread(load_windows, m.engine, now),
        )
        for channel_id, health in book.health.items():
            m.metrics.set_channel_state(channel_id, health.state)
            m.metrics.flapping.set((channel_id,), 0)
        m.metrics.shortest_interval.set(min(k.interval_seconds for c in config.channels for k in c.checks))
        yield
        m.engine.dispose()

    return lifetime


def _writer(m: Monitor, flush_interval: float) -> Lifetime:
    """The one writer of results, transitions and the alert outbox; its last flush comes after all else."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        m.writer = ResultWriter(
            m.engine,
            flush_interval=flush_interval,
            on_flush=_count_flush(m.metrics),
            on_alerts=lambda: m.alerts.wake(),
            on_transitions=lambda: m.gauges.wake.set(),
        )
        m.writer_task = asyncio.create_task(m.writer.run(), name="result-writer")
        m.metrics.writer_queue.set_function(lambda: m.writer.depth)  # read at scrape time
        yield
        m.writer_task.cancel()
        await asyncio.gather(m.writer_task, return_exceptions=True)
        await m.writer.flush()

    return lifetime


def _count_flush(metrics: Metrics) -> Callable[[int, int], None]:
    def on_flush(written: int, dropped: int) -> None:
        metrics.results_written.inc(written)
        metrics.results_dropped.set(dropped)

    return on_flush


def _alerting(m: Monitor, kinds: Mapping[str, NotifierKind], extra: list[Notifier]) -> Lifetime:
    """The outbound session (behind the network guard) and the alert router with every notifier."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        config = m.config
        # One guard for every outbound connection: probes, notifiers and actuators (allow_networks).
        m.net_guard = NetworkGuard(config.allow_networks)
        m.outbound = create_outbound_session(USER_AGENT, m.net_guard)
        ctx = NotifierContext(logging.getLogger("monitor.alerts"), m.clock, m.outbound, m.net_guard)
        built: dict[str, Notifier] = {}
        for entry in config.alerts.notifiers:
            built[entry.id] = kinds[entry.kind].build(entry.id, entry.options, ctx)
            built[entry.id].secrets = secret_values(entry.options)  # scrubbed from every error it reports
        for i, notifier in enumerate(extra):  # built elsewhere (tests): routed like configured ones
            built[notifier.id or f"extra-{i}"] = notifier
        m.alerts = AlertRouter(
            m.engine,
            config.alerts,
            built,
            m.clock,
            on_outcome=lambda dest, outcome: m.metrics.alerts.labels(dest, outcome).inc(),
            holder=m.holder,
        )
        m.metrics.start_at_zero(
            [(c.id, k.id, k.kind) for c in config.channels for k in c.checks],
            [SERVICE_LOG, *built],
            [a.id for a in config.failover.actuators],
        )
        m.publisher = AlertPublisher(m.metrics, m.writer.add_alert, bool(built), m.book.channels)
        m.alerts.start()
        yield
        await m.alerts.stop()
        await m.outbound.close()

    return lifetime


def _failover(m: Monitor, actuators: Mapping[str, ActuatorKind]) -> Lifetime:
    """The failover engine (loaded), its stepper and the action relay; the event reactions and admin actions."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        config = m.config
        m.failover = FailoverEngine(config.failover, m.engine, {c.id: c.name for c in config.channels})
        await asyncio.to_thread(m.failover.load, m.clock())
        lock = asyncio.Lock()  # admin changes, approvals and freezes: one at a time
        m.stepper = FailoverStepper(m.failover, m.book, m.writer, m.publisher, m.metrics, m.clock, lock)
        m.stepper.update_metrics()
        # Actuators share the notifiers' outbound session: behind the same guard (the seller's own systems on
        # a private network are reached through allow_networks), pooled, and no redirect followed.
        kinds = {a.id: (actuators[a.kind], a.options) for a in config.failover.actuators}
        m.relay = ActionRelay(
            m.failover,
            kinds,
            ActuatorContext(m.outbound, logging.getLogger("monitor.actuators"), m.clock),
            m.clock,
            on_event=m.stepper.relay_event,
            on_outcome=m.stepper.action_outcome,
            holder=m.holder,
        )
        m.stepper.relay, m.stepper.router = m.relay, m.alerts
        m.maker = AlertMaker(m.book.channels)
        m.reactions = Reactions(m.book, m.writer, m.metrics, m.maker, m.publisher, m.stepper.soon)
        m.admin = AdminActions(m.engine, m.book, m.reactions, m.clock, lock)
        await m.relay.start()
        yield
        await m.stepper.stop()
        await m.relay.stop()

    return lifetime


def _loops(m: Monitor) -> Lifetime:
    """Rollups and retention, and the database gauges of /metrics."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        m.upkeep = Upkeep(m.engine, m.config.retention, m.clock)
        m.gauges = DatabaseGauges(m.engine, m.metrics, m.book.channels, m.stepper.places, m.clock)
        m.stepper.on_action_outcome = m.gauges.wake.set  # an applied value may have changed
        m.upkeep.start()
        m.gauges.start()
        yield
        await m.upkeep.stop()
        await m.gauges.stop()

    return lifetime


def _leading(m: Monitor, leadership: Leadership, on_lost: Callable[[], None]) -> Lifetime:
    """The decider's leadership: its writes fenced with the epoch it won; watched every LEADER_CHECK seconds,
    and let go last (after the writer's final flush), so a standby takes over at once on SIGTERM."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        epoch = leadership.epoch
        assert epoch is not None, "elected before the app is built"
        m.fence = lambda conn: fence(conn, DECIDE, epoch)
        watch = asyncio.create_task(_watch_leadership(leadership, on_lost), name="leadership")
        yield
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await asyncio.to_thread(leadership.release)
        log.info("decider: leadership released (epoch %d)", epoch)

    return lifetime


def _take_over(engine: Engine, holder: str) -> None:
    """A new leader takes over at once what earlier deciders held: their alert destinations' leases and the
    failover actions they were sending (sent again with the same idempotency keys). Nothing is waited out: the
    old leader is fenced, and if it was only paused, its sends carry the same keys."""
    actions = action_store.release_others(engine, DECIDER_HOLDER, holder)
    held = leases.let_go_others(engine, DECIDER_HOLDER, holder)
    if actions or held:
        log.info("decider: took over %d failover actions in flight and %d alert destinations from the previous leader", actions, held)


async def _watch_leadership(leadership: Leadership, on_lost: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(LEADER_CHECK)
        if not await asyncio.to_thread(leadership.alive):
            log.critical("decider: lost the connection that holds the leadership; stopping (a standby takes over)")
            on_lost()
            return


def _network(m: Monitor) -> Lifetime:
    """A prober's network guard (allow_networks) and its metrics' first samples (it has no notifiers)."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        m.net_guard = NetworkGuard(m.config.allow_networks)
        m.metrics.start_at_zero([(c.id, k.id, k.kind) for c in m.config.channels for k in c.checks], [], [])
        yield

    return lifetime


def _listening(m: Monitor, channel: str, on_wake: Callable[[], None]) -> Lifetime:
    """Woken by other processes' writes (PostgreSQL NOTIFY): a relay by new outbox rows, a decider by new results.
    Their loops also poll, so a broken listening connection costs only latency."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        listener = Listener(conninfo(m.config.db_url), on_wake, channel)
        listener.start()
        yield
        await listener.stop()

    return lifetime


def _wake_relays(m: Monitor) -> Callable[[], None]:
    def wake() -> None:
        m.alerts.wake()
        m.relay.wake()

    return wake


def _mirroring(m: Monitor) -> Lifetime:
    """A web instance's copy of the decided state (refreshed every second), its database gauges, and its admin
    commands sent to the decider."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        def refreshed(mirror: Mirror) -> None:
            m.book, m.failover = mirror.book, mirror.failover  # what the read model shows from now on
            for channel_id, health in mirror.book.health.items():
                m.metrics.set_channel_state(channel_id, health.state)

        m.mirror = Mirror(m.config, m.engine, m.clock, on_refresh=refreshed)
        m.remote = RemoteAdmin(m.engine, m.clock)
        m.metrics.start_at_zero([], [], [a.id for a in m.config.failover.actuators])
        await m.mirror.start()
        m.gauges = DatabaseGauges(m.engine, m.metrics, m.book.channels, lambda: _places(m.failover), m.clock)
        m.gauges.start()
        log.info("serving the decided state of %d channels from the database", len(m.config.channels))
        yield
        await m.gauges.stop()
        await m.mirror.stop()

    return lifetime


def _places(failover: FailoverEngine) -> set[tuple[str, str, str]]:
    return {(*owner, channel) for owner in failover.owner_keys() for channel in failover.normal(owner)}


def _deciding(m: Monitor, model: MonitorReadModel) -> Lifetime:
    """The decider's input (every location's results, by quorum), its 1 s tick, and the admin commands web
    instances forward (carried out through its own admin actions); stopped first."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        config = m.config
        m.votes = Votes(checks_of(config.channels))

        def judge(o: Observation) -> None:
            events = m.book.observe(o.channel, o.check, o.verdict, o.at)
            m.writer.set_progress(o.channel, o.check, m.book.health[o.channel].checks[o.check], o.at)
            m.reactions(events)

        m.decider = Decider(
            m.engine,
            m.votes,
            judge,
            m.clock,
            longest_interval=max(k.interval_seconds for c in config.channels for k in c.checks),
            heartbeat_timeout=config.probing.heartbeat_timeout,
            on_read=_count_read(m.metrics),
        )
        m.tick = Tick(m.book, m.reactions, m.stepper.soon, m.maker, m.publisher, config.alerts.reminder_every, m.clock)
        m.commands = CommandRunner(m.engine, model, m.clock)
        await m.decider.start()
        m.tick.start()
        m.commands.start()
        log.info("deciding for %d channels from every location's results", len(config.channels))
        yield
        await m.commands.stop()
        await m.tick.stop()
        await m.decider.stop()

    return lifetime


def _count_read(metrics: Metrics) -> Callable[[float], None]:
    def on_read(age: float) -> None:
        metrics.decision_lag.observe(age)
        metrics.results_read.inc()

    return on_read


def _started(m: Monitor, lag: float) -> None:
    m.metrics.scheduler_lag.observe(lag)
    m.book.run_started(m.clock())


def _missed(m: Monitor, channel: str, check: str, why: str) -> None:
    """A skipped run is counted, and enough of them make the monitor say it is overloaded (and freeze states)."""
    m.metrics.missed_runs.inc((channel, check))
    m.metrics.skipped_runs.labels(why).inc()
    m.on_events(m.book.run_missed(m.clock(), why))


def _local_events(events: Iterable[Event]) -> None:
    """A prober's own view of its location: only whether its network (or its CPU) is in doubt is news here,
    and its heartbeat tells the decider; channel changes are the decider's to announce."""
    for event in events:
        if isinstance(event, ConnectivityChange | OverloadChange):
            log.warning("prober: %s", event.reason)


def _probing(m: Monitor, probes: Mapping[str, ProbeKind], *, prober: bool = False) -> Lifetime:
    """The probes' session, the result pipeline, the 1 s tick and the scheduler; stopped first. A prober
    (--role probe) runs only its share of its location's checks and decides nothing."""

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        config = m.config
        m.on_events = _local_events if prober else m.reactions
        m.http = create_http_session(USER_AGENT, m.net_guard)
        m.watch = LoopWatch()
        m.watch.start()
        m.pipeline = Pipeline(
            probes,
            m.http,
            m.net_guard,
            m.book,
            m.writer,
            m.metrics,
            m.clock,
            m.on_events,
            watch=m.watch,
            on_skipped=lambda channel, check, why: _missed(m, channel, check, why),
            location=config.location,
            decides=not prober,
        )
        run_check = m.pipeline.run_check
        if prober:
            m.prober = Prober(
                m.engine,
                prober_id(config.location),
                config.location,
                [(c.id, k.id) for c in config.channels for k in c.checks],
                heartbeat=config.probing.heartbeat,
                timeout=config.probing.heartbeat_timeout,
                clock=m.clock,
                lost=lambda: m.book.connectivity_lost,
            )
            await m.prober.start()
            run_check = _owned(m.prober, m.pipeline.run_check)
        else:
            m.tick = Tick(m.book, m.reactions, m.stepper.soon, m.maker, m.publisher, config.alerts.reminder_every, m.clock)
            m.tick.start()
        jobs = [(channel, check, run_check) for channel in config.channels for check in channel.checks]
        jobs += [(CONTROL, check, m.pipeline.run_control) for check in config.connectivity.checks]
        m.scheduler = CheckScheduler(
            jobs,
            max_in_flight=config.probing.max_in_flight,
            late_after=config.probing.late_after,
            on_start=lambda channel, check, lag: _started(m, lag),
            on_missed=lambda channel, check, why: _missed(m, channel, check, why),
        )
        m.scheduler.start()
        log.info("monitoring %d channels with %d checks", len(config.channels), sum(len(c.checks) for c in config.channels))
        yield
        m.pipeline.stopping()
        m.scheduler.shutdown()
        if prober:
            await m.prober.stop()
        else:
            await m.tick.stop()
        await m.pipeline.stop()
        await m.watch.stop()
        await m.http.close()

    return lifetime


def _owned(prober: Prober, run_check: RunCheck) -> RunCheck:
    """Run a check only while this prober owns it (the scheduler keeps every check's phase in every prober)."""

    async def run(channel: Channel, check: CheckSpec) -> None:
        if prober.owns(channel.id, check.id):
            await run_check(channel, check)

    return run
