"""The channel health state machine: pure functions, no I/O, no clock reads."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Thresholds:
    fail: int = 3      # consecutive bad results before a check changes for the worse
    recover: int = 2   # consecutive better results before it changes back


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check result reduced to what health needs."""

    healthy: bool
    error_class: str | None = None
    error: str | None = None
    severity: str = "down"  # of a failure: "down", "degraded", or "stale" (the probe learned nothing)

    @property
    def level(self) -> State | None:
        """The state this result argues for; None for a stale result."""
        if self.healthy:
            return State.UP
        return {"down": State.DOWN, "degraded": State.DEGRADED}.get(self.severity)


@dataclass(frozen=True, slots=True)
class CheckHealth:
    state: State = State.UNKNOWN
    fails: int = 0     # consecutive down results
    warns: int = 0     # consecutive degraded results
    oks: int = 0       # consecutive good results
    nondown: int = 0   # consecutive results that were not down (good or degraded)
    last: Verdict | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A channel changed state; cause says which check and why."""

    channel: str
    old: State
    new: State
    at: float
    cause: Mapping[str, str | None] = field(default_factory=dict)
    old_since: float | None = None  # when the old state began: how long a channel was down


def advance_check(prev: CheckHealth, verdict: Verdict, thresholds: Thresholds) -> CheckHealth:
    """Count the new verdict and change the check's state once a threshold is reached."""
    level = verdict.level
    if level is None:  # stale: nothing learned, nothing counted
        return CheckHealth(prev.state, prev.fails, prev.warns, prev.oks, prev.nondown, verdict)
    down, warn, good = level is State.DOWN, level is State.DEGRADED, level is State.UP
    fails = prev.fails + 1 if down else 0
    warns = prev.warns + 1 if warn else 0
    oks = prev.oks + 1 if good else 0
    nondown = 0 if down else prev.nondown + 1
    state = prev.state
    if down and fails >= thresholds.fail:
        state = State.DOWN
    elif state is State.DOWN:
        if nondown >= thresholds.recover:
            state = level
    elif state is State.UNKNOWN and not down:
        # A first sighting is believed at once, so a fresh start shows its channels within one
        # interval; only the worse direction (and recovery) waits for a threshold.
        state = level
    elif state is State.UP and warn and warns >= thresholds.fail:
        state = State.DEGRADED
    elif state is State.DEGRADED and good and oks >= thresholds.recover:
        state = State.UP
    return CheckHealth(state, fails, warns, oks, nondown, verdict)


_RANK = {State.DOWN: 3, State.DEGRADED: 2, State.UP: 1, State.UNKNOWN: 0}


def channel_state(checks: Mapping[str, CheckHealth]) -> State:
    """A channel takes its worst decided check's state: down, then degraded, then up; else unknown."""
    return max((c.state for c in checks.values()), key=_RANK.__getitem__, default=State.UNKNOWN)


@dataclass(slots=True)
class ChannelHealth:
    """Per-channel state: the states of its checks and the state last announced."""

    channel: str
    thresholds: Thresholds
    state: State = State.UNKNOWN
    since: float | None = None
    checks: dict[str, CheckHealth] = field(default_factory=dict)
    cause: Mapping[str, str | None] = field(default_factory=dict)  # why it entered its state

    def observe(self, check: str, verdict: Verdict, now: float) -> Transition | None:
        """Record a check's verdict; return the channel's transition if its state changed."""
        self.checks[check] = advance_check(self.checks.get(check, CheckHealth()), verdict, self.thresholds)
        new = channel_state(self.checks)
        if new is self.state:
            return None
        transition = Transition(self.channel, self.state, new, now, _cause(check, self.checks, new), self.since)
        self.state, self.since, self.cause = new, now, transition.cause
        return transition

    def restore(self, state: State, since: float | None, check_ids: list[str],
                cause: Mapping[str, str | None] | None = None) -> None:
        """Resume from a stored state: every check starts where the channel was."""
        self.state, self.since, self.cause = state, since, cause or {}
        self.checks = {c: CheckHealth(state=state) for c in check_ids}


def _cause(trigger: str, checks: Mapping[str, CheckHealth], new: State) -> dict[str, str | None]:
    """Explain a transition by the check that caused it (the failing check when going down)."""
    name = trigger
    if checks[trigger].state is not new and new in (State.DOWN, State.DEGRADED):
        name = next(n for n, c in checks.items() if c.state is new)
    last = checks[name].last
    return {"check": name, "error_class": last.error_class if last else None, "error": last.error if last else None}
