"""The running monitor's components, as create_app wired them: one handle for the web's read model and for tests.

No logic lives here: each component owns its part (monitor/channels.py the states, monitor/pipeline.py the
results, monitor/failover/stepper.py the decisions, alerts/router.py the delivery...). The attributes are
set by create_app's cleanup contexts as each resource starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from sqlalchemy.engine import Connection, Engine

from alerts.router import AlertRouter
from monitor.admin_actions import AdminActions
from monitor.channels import ChannelBook, Event
from monitor.commands import CommandRunner, RemoteAdmin
from monitor.config import Config
from monitor.decider import Decider
from monitor.events import AlertMaker
from monitor.failover.engine import FailoverEngine
from monitor.failover.relay import ActionRelay
from monitor.failover.stepper import FailoverStepper
from monitor.loop_watch import LoopWatch
from monitor.loops import DatabaseGauges, Tick, Upkeep
from monitor.metrics import Metrics
from monitor.mirror import Mirror
from monitor.pipeline import Pipeline
from monitor.prober import Prober
from monitor.reactions import AlertPublisher, Reactions
from monitor.scheduler import CheckScheduler
from monitor.store.writer import ResultWriter
from monitor.votes import Votes
from probes.guard import NetworkGuard


@dataclass(eq=False)
class Monitor:
    """Handles on every running component (set while the app starts)."""

    config: Config
    metrics: Metrics
    clock: Callable[[], float]
    book: ChannelBook
    started_at: float
    engine: Engine = field(init=False)
    writer: ResultWriter = field(init=False)
    writer_task: asyncio.Task = field(init=False)
    alerts: AlertRouter = field(init=False)
    failover: FailoverEngine = field(init=False)
    stepper: FailoverStepper = field(init=False)
    relay: ActionRelay = field(init=False)
    admin: AdminActions = field(init=False)
    pipeline: Pipeline = field(init=False)
    tick: Tick = field(init=False)
    scheduler: CheckScheduler = field(init=False)
    watch: LoopWatch = field(init=False)
    net_guard: NetworkGuard = field(init=False)
    outbound: aiohttp.ClientSession = field(init=False)
    http: aiohttp.ClientSession = field(init=False)
    publisher: AlertPublisher = field(init=False)
    maker: AlertMaker = field(init=False)
    reactions: Reactions = field(init=False)
    upkeep: Upkeep = field(init=False)
    gauges: DatabaseGauges = field(init=False)
    prober: Prober = field(init=False)  # --role probe
    decider: Decider = field(init=False)  # --role decide
    votes: Votes = field(init=False)  # --role decide: each check's sightings per location
    commands: CommandRunner = field(init=False)  # --role decide: admin commands sent to web instances
    mirror: Mirror = field(init=False)  # --role web: the decided state, read from the database
    remote: RemoteAdmin = field(init=False)  # --role web: admin commands, carried out by the decider
    on_events: Callable[[Iterable[Event]], None] = field(init=False)  # where the pipeline's events go
    fence: Callable[[Connection], None] | None = None  # a decider's check of its epoch in every write
    holder: str = "local"  # whose alert leases and action claims this process holds

    @property
    def healthy(self) -> bool:
        """True while this process's parts work (what /healthz reports): writing, and as its role has them
        probing (all, probe), the 1 s tick (all, decide) and reading the locations' results (decide)."""
        role = self.config.role
        if role == "web":
            return _alive(self.mirror.task) and self.mirror.fresh
        parts = [not self.writer_task.done() and not self.writer.failing]
        if role in ("all", "probe"):
            parts.append(self.scheduler.running)
        if role in ("all", "decide"):
            parts.append(_alive(self.tick.task))
        if role == "decide":
            parts += [_alive(self.decider.task), _alive(self.commands.task)]
        return all(parts)


def _alive(task: asyncio.Task | None) -> bool:
    return task is not None and not task.done()


MONITOR = web.AppKey("monitor", Monitor)
