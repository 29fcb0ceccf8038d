"""The running monitor: storage, writer, HTTP session, runner and scheduler, started and stopped together."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from alerts.base import Alert, Notifier
from alerts.log import LogNotifier
from alerts.router import AlertRouter
from monitor.config import Channel, Check, Config
from monitor.health import ChannelHealth, State, Thresholds, Transition
from monitor.metrics import Metrics
from monitor.runner import Runner
from monitor.scheduler import CheckScheduler
from monitor.store.db import ensure_data_dir, make_engine
from monitor.store.queries import load_channel_states
from monitor.store.writer import ResultWriter
from probes.base import ProbeKind
from probes.guard import NetworkGuard
from probes.session import create_http_session

log = logging.getLogger("monitor")
USER_AGENT = "channel-monitor/0.1 (+https://github.com/channel-monitor)"


class MonitorService:
    """Everything that runs in the background; the web app only reads from it."""

    def __init__(self, config: Config, probes: Mapping[str, ProbeKind], metrics: Metrics,
                 clock: Callable[[], float] = time.time, *, flush_interval: float = 0.5,
                 notifiers: Sequence[Notifier] | None = None) -> None:
        self.config = config
        self.probes = probes
        self.metrics = metrics
        self.clock = clock
        self.flush_interval = flush_interval
        self.notifiers = list(notifiers) if notifiers is not None else [LogNotifier()]
        self.started_at = clock()
        self.channels: dict[str, Channel] = {c.id: c for c in config.channels}
        self.health: dict[str, ChannelHealth] = {}
        self._inflight: set[asyncio.Task] = set()
        self._writer_task: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        """Open storage, resume stored states and start probing."""
        if self.config.database_url is None:
            ensure_data_dir(Path(self.config.data_dir))
        self.engine = await asyncio.to_thread(make_engine, self.config.db_url)
        stored = await asyncio.to_thread(load_channel_states, self.engine)
        for channel in self.config.channels:
            fail, recover = self.config.check_thresholds(channel)
            health = ChannelHealth(channel.id, Thresholds(fail, recover))
            if channel.id in stored:
                s = stored[channel.id]
                health.restore(State(s.state), s.since, [c.id or c.kind for c in channel.checks], s.cause)
            self.health[channel.id] = health
            self.metrics.set_channel_state(channel.id, health.state)
        self.alerts = AlertRouter(self.notifiers)
        self.alerts.start()
        self.writer = ResultWriter(self.engine, flush_interval=self.flush_interval, on_flush=self._on_flush)
        self._writer_task = asyncio.create_task(self.writer.run(), name="result-writer")
        self.metrics.writer_queue.set_function(lambda: self.writer.depth)  # read at scrape time
        guard = NetworkGuard(self.config.allow_networks)
        self.http = create_http_session(USER_AGENT, guard)
        self.runner = Runner(self.probes, self.http, self.health, self.writer, self.metrics, self.clock, self._publish,
                             guard)
        self.scheduler = CheckScheduler(self.config, self._run_tracked, self.metrics)
        self.scheduler.start()
        log.info("monitoring %d channels with %d checks", len(self.channels),
                 sum(len(c.checks) for c in self.config.channels))

    async def stop(self) -> None:
        """Stop probing, then write every buffered result before closing storage."""
        self._stopping = True
        self.scheduler.shutdown()
        for task in list(self._inflight):
            task.cancel()  # a probe cut off by shutdown has no result worth storing
        await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.http.close()
        await self.alerts.stop()
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
        return self.scheduler.running and writer_alive and not self.writer.failing

    async def _run_tracked(self, channel: Channel, check: Check) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await self.runner.run_check(channel, check)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cut off by shutdown: end quietly instead of letting APScheduler log it as a crash.
        finally:
            self._inflight.discard(task)

    def _on_flush(self, written: int, dropped: int) -> None:
        self.metrics.results_written.inc(written)
        self.metrics.results_dropped.set(dropped)

    def _publish(self, t: Transition) -> None:
        down_for = t.at - t.old_since if t.old is State.DOWN and t.old_since is not None else None
        self.alerts.publish(Alert(t.channel, self.channels[t.channel].name, t.old.value, t.new.value, t.at,
                                  t.cause, down_for=down_for))
