"""The channel health state machine: pure functions, no I/O, no clock reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from monitor.flapping import FlapDetector, FlapSettings, percent_state_change
from monitor.maintenance import Window


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class Thresholds:
    fail: int = 3  # consecutive bad results before a check changes for the worse
    recover: int = 2  # consecutive better results before it changes back


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
    fails: int = 0  # consecutive down results
    warns: int = 0  # consecutive degraded results
    oks: int = 0  # consecutive good results
    nondown: int = 0  # consecutive results that were not down (good or degraded)
    last: Verdict | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A channel changed state; cause says which check and why."""

    channel: str
    old: State
    new: State
    at: float
    cause: Mapping[str, str | None] = field(default_factory=dict)
    flapping: bool = False  # the channel was flapping: notifiers stay quiet, failover holds still
    down_since: float | None = None  # when the unavailability began (maintenance in between included)


def advance_check(prev: CheckHealth, verdict: Verdict, thresholds: Thresholds) -> CheckHealth:
    """Count the new verdict and change the check's state once a threshold is reached."""
    level = verdict.level
    if level is None:  # stale: nothing learned, nothing counted
        return CheckHealth(prev.state, prev.fails, prev.warns, prev.oks, prev.nondown, verdict)
    down, good = level is State.DOWN, level is State.UP
    fails = prev.fails + 1 if down else 0
    # Any failure at least degrades: a check alternating between down and degraded results must not
    # stay up because each kind keeps resetting the other's count.
    warns = prev.warns + 1 if not good else 0
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
    elif state is State.UP and not good and warns >= thresholds.fail:
        state = State.DEGRADED
    elif state is State.DEGRADED and good and oks >= thresholds.recover:
        state = State.UP
    return CheckHealth(state, fails, warns, oks, nondown, verdict)


_RANK = {State.DOWN: 3, State.DEGRADED: 2, State.UP: 1, State.UNKNOWN: 0}


def channel_state(checks: Mapping[str, CheckHealth], down_when: int | None = 1) -> State:
    """Combine check states: down when `down_when` checks are down (None: all of them); a down check
    short of that degrades the channel; otherwise the worst decided state, else unknown."""
    return combine([c.state for c in checks.values()], down_when)


def combine(states: list[State], down_when: int | None = 1) -> State:
    """channel_state of the check states given (the caller may take them from results, not thresholds)."""
    needed = len(states) if down_when is None else down_when
    down = states.count(State.DOWN)
    if down and down >= needed:
        return State.DOWN
    if down:
        return State.DEGRADED
    return max(states, key=_RANK.__getitem__, default=State.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Override:
    """A state forced by a person through the admin API, until it expires or is lifted."""

    state: State
    by: str
    reason: str
    until: float | None = None

    def active_at(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Context:
    """What decides a channel's state besides its checks; the ChannelBook builds it for each call."""

    maintenance: Window | None = None  # an active maintenance window
    override: Override | None = None  # an active manual override
    frozen: bool = False  # the monitor's own connectivity is lost: hold every state
    # The monitor is overloaded: a failure may be its own (a probe starved of CPU), so failures do not count
    # and no channel gets worse; a success is still evidence, so a channel can come up or recover.
    overloaded: bool = False

    def ignores(self, verdict: Verdict) -> bool:
        """Whether this result says nothing about the channel now."""
        return self.frozen or (self.overloaded and not verdict.healthy)

    def steered(self, now: float) -> bool:
        """A person decides the state now (maintenance, an active override), not the channel's checks."""
        return self.maintenance is not None or (self.override is not None and self.override.active_at(now))


@dataclass(frozen=True, slots=True)
class Rules:
    """How one channel's checks become its state."""

    thresholds: Thresholds = Thresholds()
    down_when: int | None = 1  # checks that must be down for the channel to be down; None: all
    min_state_time: float = 0.0  # seconds a state is held before the checks may change it
    degrade_only: frozenset[str] = frozenset()  # checks whose failures only degrade the channel
    flapping: FlapSettings = FlapSettings()


@dataclass(frozen=True, slots=True)
class FlapEvent:
    channel: str
    started: bool
    at: float
    percent: float


@dataclass(slots=True)
class ChannelHealth:
    """Per-channel state: its checks' states, the state last announced, and flapping."""

    channel: str
    rules: Rules = Rules()
    state: State = State.UNKNOWN
    since: float | None = None
    checks: dict[str, CheckHealth] = field(default_factory=dict)
    cause: Mapping[str, str | None] = field(default_factory=dict)  # why it entered its state
    flap: FlapDetector = field(default_factory=FlapDetector)
    down_since: float | None = None  # set on going down, kept through maintenance, cleared on recovery
    # The last incident's start and when it ended: down again within flapping.reopen_within continues it.
    last_down_since: float | None = None
    recovered_at: float | None = None

    def observe(self, check: str, verdict: Verdict, now: float, ctx: Context = Context()) -> list[Transition | FlapEvent]:
        """Record a check's verdict; return the transition and flapping changes it causes."""
        verdict = self.effective(check, verdict)
        previous = self.checks.get(check, CheckHealth())
        if ctx.ignores(verdict):
            # "Is it us?": results taken while the monitor is cut off (or failures while it is overloaded)
            # say nothing about the channel, so they do not count toward any threshold (counting them would
            # declare every channel down the moment connectivity returns).
            self.checks[check] = replace(previous, last=verdict)
        else:
            self.checks[check] = advance_check(previous, verdict, self.rules.thresholds)
        events: list[Transition | FlapEvent] = []
        if verdict.level is not None and not ctx.ignores(verdict) and not ctx.steered(now):
            self.flap.settings = self.rules.flapping
            flap = self.flap.observe(self._raw_verdict_state().value)
            if flap is not None:
                events.append(FlapEvent(self.channel, flap, now, percent_state_change(tuple(self.flap.history))))
        transition = self._evaluate(now, ctx, trigger=check)
        return ([transition] if transition else []) + events

    def effective(self, check: str, verdict: Verdict) -> Verdict:
        """The verdict as this channel counts it: a degrade-only check's failures only degrade."""
        if check in self.rules.degrade_only and verdict.severity == "down":
            return Verdict(verdict.healthy, verdict.error_class, verdict.error, "degraded")
        return verdict

    def tick(self, now: float, ctx: Context = Context()) -> Transition | None:
        """Re-evaluate without a new result: a maintenance window or an override began or ended."""
        return self._evaluate(now, ctx, trigger=None)

    @property
    def raw_state(self) -> State:
        """What the checks alone say, before maintenance, overrides and holds."""
        return channel_state(self.checks, self.rules.down_when)

    def _raw_verdict_state(self) -> State:
        # The latest verdict of every check, before thresholds: what flapping is measured on.
        return combine([(c.last.level or c.state) if c.last else c.state for c in self.checks.values()], self.rules.down_when)

    def _evaluate(self, now: float, ctx: Context, trigger: str | None) -> Transition | None:
        forced = False
        cause: dict[str, str | None]
        if ctx.override is not None and ctx.override.active_at(now):
            new, cause, forced = ctx.override.state, {"override_by": ctx.override.by, "reason": ctx.override.reason}, True
        elif ctx.maintenance is not None:
            new, cause, forced = State.MAINTENANCE, {"maintenance": ctx.maintenance.reason}, True
        elif ctx.frozen:
            return None  # "is it us?": nothing the probes say now can be trusted
        elif ctx.overloaded and self.raw_state in (State.DOWN, State.DEGRADED):
            return None  # failures counted before the overload are not acted on while it lasts
        else:
            new = self.raw_state
            if new is self.state:
                return None  # the common case, every good result of an up channel: no cause to work out
            cause = _cause(trigger, self.checks, new)
            # A window ending or an override lifted hands the channel back to its checks at once.
            forced = self.state is State.MAINTENANCE or "override_by" in self.cause
        if new is self.state:
            return None
        held = self.since is not None and now - self.since < self.rules.min_state_time
        if held and not forced and self.state is not State.UNKNOWN:
            return None
        if new is State.DOWN and self.down_since is None:
            self.down_since = self.incident_since(now) or now
        transition = Transition(self.channel, self.state, new, now, cause, self.flap.flapping, self.down_since)
        if new not in (State.DOWN, State.MAINTENANCE):
            if self.down_since is not None:
                self.last_down_since, self.recovered_at = self.down_since, now
            self.down_since = None
        self.state, self.since, self.cause = new, now, transition.cause
        return transition

    def incident_since(self, now: float) -> float | None:
        """The start of the channel's current incident: the open one, or the last one if it ended less than
        flapping.reopen_within ago (going down again continues it); None: no incident."""
        if self.down_since is not None:
            return self.down_since
        recent = self.recovered_at is not None and now - self.recovered_at <= self.rules.flapping.reopen_within
        return self.last_down_since if recent else None

    def restore(
        self,
        state: State,
        since: float | None,
        check_ids: list[str],
        cause: Mapping[str, str | None] | None = None,
        *,
        incident_since: float | None = None,
        last_incident: tuple[float, float] | None = None,
    ) -> None:
        """Resume from a stored state: every check starts where the channel was.

        `incident_since` is the start of the channel's open incident (a reopened one began before the state's
        `since`; one open through a maintenance window too), `last_incident` the start and end of its last closed
        one: so alert keys and flapping.reopen_within work across a restart as they did before it.
        """
        self.state, self.since, self.cause = state, since, cause or {}
        self.down_since = None
        if state in (State.DOWN, State.MAINTENANCE):
            self.down_since = incident_since if incident_since is not None else since if state is State.DOWN else None
        self.last_down_since, self.recovered_at = last_incident if last_incident is not None else (None, None)
        check_state = state if state in (State.UP, State.DOWN, State.DEGRADED) else State.UNKNOWN
        self.checks = {c: CheckHealth(state=check_state) for c in check_ids}


def _cause(trigger: str | None, checks: Mapping[str, CheckHealth], new: State) -> dict[str, str | None]:
    """Explain a transition by the check that caused it (a failing check when going down)."""
    name = trigger
    if new in (State.DOWN, State.DEGRADED) and (name is None or checks[name].state not in (State.DOWN, State.DEGRADED)):
        name = next(
            (n for n, c in checks.items() if c.state is State.DOWN), next((n for n, c in checks.items() if c.state is State.DEGRADED), None)
        )
    if name is None:
        return {}
    last = checks[name].last
    return {"check": name, "error_class": last.error_class if last else None, "error": last.error if last else None}
