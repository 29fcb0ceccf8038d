"""The channel health state machine: pure functions, no I/O, no clock reads."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Thresholds:
    fail: int = 3      # consecutive failed results before a check counts as down
    recover: int = 2   # consecutive good results before it counts as up again


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check result reduced to what health needs."""

    healthy: bool
    error_class: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CheckHealth:
    state: State = State.UNKNOWN
    fails: int = 0   # consecutive failures so far
    oks: int = 0     # consecutive successes so far
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
    """Count the new verdict and flip the check's state once a threshold is reached."""
    fails = 0 if verdict.healthy else prev.fails + 1
    oks = prev.oks + 1 if verdict.healthy else 0
    state = prev.state
    if not verdict.healthy and fails >= thresholds.fail:
        state = State.DOWN
    # Only a recovery from down needs the recover threshold; a first success (unknown -> up) is
    # believed at once, so a fresh start shows its channels up within one interval.
    elif verdict.healthy and (oks >= thresholds.recover or prev.state is not State.DOWN):
        state = State.UP
    return CheckHealth(state=state, fails=fails, oks=oks, last=verdict)


def channel_state(checks: Mapping[str, CheckHealth]) -> State:
    """A channel is down if any check is down, unknown until some check has decided, else up."""
    states = [c.state for c in checks.values()]
    if State.DOWN in states:
        return State.DOWN
    if State.UP in states:
        return State.UP
    return State.UNKNOWN


@dataclass(slots=True)
class ChannelHealth:
    """Per-channel state: the states of its checks and the state last announced."""

    channel: str
    thresholds: Thresholds
    state: State = State.UNKNOWN
    since: float | None = None
    checks: dict[str, CheckHealth] = field(default_factory=dict)

    def observe(self, check: str, verdict: Verdict, now: float) -> Transition | None:
        """Record a check's verdict; return the channel's transition if its state changed."""
        self.checks[check] = advance_check(self.checks.get(check, CheckHealth()), verdict, self.thresholds)
        new = channel_state(self.checks)
        if new is self.state:
            return None
        transition = Transition(self.channel, self.state, new, now, _cause(check, self.checks, new), self.since)
        self.state, self.since = new, now
        return transition

    def restore(self, state: State, since: float | None, check_ids: list[str]) -> None:
        """Resume from a stored state: every check starts where the channel was."""
        self.state, self.since = state, since
        self.checks = {c: CheckHealth(state=state) for c in check_ids}


def _cause(trigger: str, checks: Mapping[str, CheckHealth], new: State) -> dict[str, str | None]:
    """Explain a transition by the check that caused it (the failing check when going down)."""
    name = trigger
    if new is State.DOWN and checks[trigger].state is not State.DOWN:
        name = next(n for n, c in checks.items() if c.state is State.DOWN)
    last = checks[name].last
    return {"check": name, "error_class": last.error_class if last else None, "error": last.error if last else None}
