"""Each channel's failover standing, with hold-down and failback delay. Pure.

Health states change on probe results; failover must move slower than that (a DNS outage that comes
back for a minute and goes again must not move money twice). The gate turns a channel's health into
its Standing for plan():

    down (not flapping) for hold_down           -> failed over (FAILED), stays so until
    up or degraded (not flapping) for failback_after -> back (ACTIVE)

Anything else (unknown, maintenance, flapping, down inside the hold-down, recovered inside the
failback delay) changes nothing: a failed-over channel stays FAILED, a healthy one is HOLD (keeps
its amount, receives nothing more). A channel forced down by a manual override is failed over at once
(a planned shutdown: the hold-down is for outages that may fix themselves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.failover.plan import Standing
from monitor.health import State


@dataclass(frozen=True, slots=True)
class HealthView:
    """What the gate needs to know about one channel's health."""

    state: State
    since: float  # when the channel entered that state
    flapping: bool = False
    forced: bool = False  # the state comes from a manual override
    cause: Mapping[str, str | None] = field(default_factory=dict)  # why it entered the state (for the audit)
    down_since: float | None = None  # when its outage began: the start of its incident


def standing(failed: bool, health: HealthView, now: float, hold_down: float, failback_after: float) -> tuple[Standing, bool]:
    """Return (standing for plan(), failed-over after this step) for one channel."""
    if not health.flapping:
        if health.state is State.DOWN and not failed and (health.forced or now - health.since >= hold_down):
            failed = True
        elif health.state in (State.UP, State.DEGRADED) and failed and (health.forced or now - health.since >= failback_after):
            failed = False
    if failed:
        return Standing.FAILED, True
    healthy = health.state in (State.UP, State.DEGRADED) and not health.flapping
    return (Standing.ACTIVE if healthy else Standing.HOLD), False
