"""ChannelBook: every channel's health, its maintenance windows and overrides, and the "is it us?" guard. Pure.

The pipeline hands it each result and the clock hands it ticks; it answers with the events that follow
(state changes, flapping, connectivity lost or restored). It does no I/O and owns no task: storing,
alerting and failover react to the events it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.config import Channel, Config
from monitor.connectivity import ConnectivityGuard
from monitor.core.history import IncidentStarts, StoredState
from monitor.failover.gate import HealthView
from monitor.health import ChannelHealth, CheckHealth, Context, FlapEvent, Override, State, Transition, Verdict
from monitor.maintenance import Window, active
from monitor.overload import OverloadGuard


@dataclass(frozen=True, slots=True)
class ConnectivityChange:
    """The monitor's own network was lost (or is back): channel states freeze, no failover runs."""

    lost: bool
    at: float
    since: float  # when it was lost: the key of its alert thread
    reason: str


@dataclass(frozen=True, slots=True)
class OverloadChange:
    """The monitor could not run its checks on time (or can again): channel states freeze, no failover runs."""

    overloaded: bool
    at: float
    since: float  # when it began: the key of its alert thread
    reason: str


Event = Transition | FlapEvent | ConnectivityChange | OverloadChange


class ChannelBook:
    """The state of every channel, and the rules that move it."""

    def __init__(self, config: Config, started_at: float) -> None:
        self.started_at = started_at
        self.channels: dict[str, Channel] = {c.id: c for c in config.channels}
        self.health: dict[str, ChannelHealth] = {c.id: ChannelHealth(c.id, config.rules(c)) for c in config.channels}
        # Maintenance windows per channel (config now; the admin API adds more) and manual overrides.
        self.windows: dict[str, list[Window]] = {c.id: [w.window() for w in c.maintenance] for c in config.channels}
        self.overrides: dict[str, Override] = {}
        self.guard = ConnectivityGuard(
            config.connectivity.max_failing_share, config.connectivity.min_channels, config.defaults.fail_threshold
        )
        self._connectivity_since: float | None = None
        self.overload = OverloadGuard()

    def restore(
        self,
        stored: Mapping[str, StoredState],
        incidents: Mapping[str, IncidentStarts],
        progress: Mapping[tuple[str, str], CheckHealth],
        overrides: Mapping[str, Override],
        windows: Mapping[str, Iterable[Window]],
    ) -> None:
        """Resume from what was stored: states, open incidents, threshold progress, overrides and windows."""
        self.overrides = dict(overrides)
        for channel_id, added in windows.items():
            if channel_id in self.windows:
                self.windows[channel_id].extend(added)
        for channel in self.channels.values():
            health = self.health[channel.id]
            if channel.id in stored:
                s, i = stored[channel.id], incidents.get(channel.id, IncidentStarts())
                health.restore(
                    State(s.state), s.since, [c.id for c in channel.checks], s.cause, incident_since=i.open_since, last_incident=i.last
                )
            for check in channel.checks:  # threshold progress as last flushed (SIGKILL loses at most one flush)
                if (channel.id, check.id) in progress:
                    health.checks[check.id] = progress[(channel.id, check.id)]

    @property
    def connectivity_lost(self) -> bool:
        return self.guard.lost

    @property
    def frozen(self) -> bool:
        """No failover now: the monitor's network is lost (states frozen) or it is overloaded (failures ignored)."""
        return self.guard.lost or self.overload.overloaded

    def run_started(self, at: float) -> None:
        self.overload.started(at)

    def run_missed(self, at: float, why: str) -> list[Event]:
        """The scheduler skipped a run (late, busy, at capacity): enough of them and the monitor is overloaded."""
        return self._overloaded(self.overload.missed(at, why), at)

    def context(self, channel: str, now: float) -> Context:
        """What besides its checks decides a channel's state right now (an expired override is dropped)."""
        override = self.overrides.get(channel)
        if override is not None and not override.active_at(now):
            del self.overrides[channel]
            override = None
        return Context(
            maintenance=active(self.windows[channel], now), override=override, frozen=self.guard.lost, overloaded=self.overload.overloaded
        )

    def observe(self, channel: str, check: str, verdict: Verdict, at: float) -> list[Event]:
        """One check's result: the guard's view first (on latest results), then the channel's health."""
        health = self.health[channel]
        ctx = self.context(channel, at)
        verdict = health.effective(check, verdict)
        events: list[Event] = []
        # "Is it us?" is judged on the latest results, before thresholds; a channel in maintenance or under
        # an override says nothing about the monitor's network.
        lost = self.guard.channel_result(
            channel,
            check,
            not verdict.healthy and verdict.severity == "down",
            health.rules.down_when or len(health.checks) or 1,
            ctx.steered(at),
        )
        events += self._connectivity(lost, at)
        events += health.observe(check, verdict, at, ctx)
        return events

    def control(self, check: str, ok: bool, at: float) -> list[Event]:
        """A control target's result: it only feeds the "is it us?" guard."""
        return self._connectivity(self.guard.control_result(check, ok), at)

    def overload_update(self, now: float) -> list[Event]:
        """Every second: the overload ends once no run was skipped for its clear_after."""
        return self._overloaded(self.overload.update(now), now)

    def apply_now(self, channel: str, now: float) -> list[Event]:
        transition = self.health[channel].tick(now, self.context(channel, now))
        return [transition] if transition is not None else []

    def set_override(self, channel: str, override: Override | None, now: float) -> list[Event]:
        """Force a channel's state (None lifts it), at once."""
        if override is None:
            self.overrides.pop(channel, None)
        else:
            self.overrides[channel] = override
        return self.apply_now(channel, now)

    def add_window(self, channel: str, window: Window, now: float) -> list[Event]:
        self.windows[channel].append(window)
        return self.apply_now(channel, now)

    def remove_window(self, channel: str, window: Window, now: float) -> list[Event]:
        if window not in self.windows[channel]:
            return []
        self.windows[channel].remove(window)
        return self.apply_now(channel, now)

    def health_views(self) -> dict[str, HealthView]:
        """What failover needs to know of every channel."""
        return {
            c: HealthView(
                h.state,
                h.since if h.since is not None else self.started_at,
                h.flap.flapping,
                "override_by" in h.cause,
                dict(h.cause),
                h.down_since,
            )
            for c, h in self.health.items()
        }

    def _overloaded(self, change: bool | None, at: float) -> list[Event]:
        if change is None:
            return []
        since = self.overload.since if self.overload.since is not None else at
        return [OverloadChange(change, at, since, self.overload.reason or "every run starts on time again")]

    def _connectivity(self, lost: bool | None, at: float) -> list[Event]:
        if lost is None:
            return []
        if lost:
            self._connectivity_since = at
        since = self._connectivity_since if self._connectivity_since is not None else at
        return [ConnectivityChange(lost, at, since, self.guard.reason)]
