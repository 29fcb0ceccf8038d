"""One check, several probing locations, one verdict: down only when its quorum of voting locations sees it down. Pure.

A false "down" seen from one vantage point (its resolver, its route, its own network) moves a seller's money,
so, as the monitors operators trust for paging do (Better Stack: 3 of at least 4 locations; OpenStatus: at least
half of the regions), a check counts as down only when `quorum` of the locations that may vote see it down:
`majority` (more than half of them) or a number k. A location votes on a check while its latest result for it is
at most two intervals old and its own "is it us?" guard has not tripped; any other location is shown as unknown,
never counted as down. With one location the verdict is that location's result, exactly as without quorum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from monitor.health import State, Verdict

Quorum = Literal["majority"] | int
STALE_AFTER_INTERVALS = 2.0  # a location whose latest result is older than this many intervals does not vote
# ... plus the time a result takes to reach the decider (a prober's writer flushes every 0.5 s, the decider reads
# every 0.2 s): without it a short interval would find every other location stale by the time it counts.
DELIVERY_SLACK = 2.0


def fresh(at: float, now: float, interval: float) -> bool:
    """Whether a result taken at `at` may still vote."""
    return now - at <= STALE_AFTER_INTERVALS * interval + DELIVERY_SLACK


@dataclass(frozen=True, slots=True)
class Sighting:
    """One location's latest result for a check."""

    location: str
    verdict: Verdict
    at: float


@dataclass(frozen=True, slots=True)
class Vote:
    """The check's verdict across locations, and who said what (for the status page and the alert)."""

    verdict: Verdict
    down: tuple[str, ...] = ()  # voting locations that see the check down
    degraded: tuple[str, ...] = ()  # voting locations that see it degraded
    unknown: tuple[str, ...] = ()  # locations that do not vote: stale, or their own network is in doubt
    voting: int = 0
    needed: int = 1

    @property
    def failing(self) -> tuple[str, ...]:
        """The locations that see the check failing, down first."""
        return self.down + self.degraded


def needed(quorum: Quorum, voting: int) -> int:
    """How many voting locations must see a check down: a majority is more than half of them."""
    return voting // 2 + 1 if quorum == "majority" else int(quorum)


def decide(sightings: Iterable[Sighting], *, now: float, interval: float, quorum: Quorum, lost: frozenset[str] = frozenset()) -> Vote:
    """The check's verdict from each location's latest result (`lost`: locations whose own guard tripped)."""
    voters: list[Sighting] = []
    unknown: list[str] = []
    for s in sorted(sightings, key=lambda s: s.location):
        if fresh(s.at, now, interval) and s.location not in lost and s.verdict.level is not None:
            voters.append(s)
        else:
            unknown.append(s.location)
    need = needed(quorum, len(voters))
    down = [s for s in voters if s.verdict.level is State.DOWN]
    degraded = [s for s in voters if s.verdict.level is State.DEGRADED]
    names = tuple(s.location for s in down), tuple(s.location for s in degraded)
    if not voters:
        # Nothing learned (every location stale or in doubt): the check keeps its state, as with a stale result.
        verdict = Verdict(False, None, "no location can vote on this check now", "stale")
    elif len(voters) < need:
        # A fixed quorum more locations than can vote now: they can neither confirm an outage nor clear one, so
        # the check holds its state (saying "up" would end a real outage because a location went quiet).
        verdict = Verdict(False, None, f"only {len(voters)} of the {need} locations needed can vote now: state held", "stale")
    elif len(down) >= need:
        verdict = _seen(down[0].verdict, len(down), len(voters))
    elif len(down) + len(degraded) >= need:
        worst = (down or degraded)[0].verdict
        verdict = _seen(Verdict(False, worst.error_class, worst.error, "degraded"), len(down) + len(degraded), len(voters))
    else:
        verdict = Verdict(True)
    return Vote(verdict, names[0], names[1], tuple(unknown), len(voters), need)


def _seen(verdict: Verdict, failing: int, voting: int) -> Verdict:
    """The failing verdict, saying from how many locations it is seen (not with one: the text stays as it was)."""
    if voting == 1:
        return verdict
    return Verdict(False, verdict.error_class, f"{verdict.error} (seen from {failing} of {voting} locations)", verdict.severity)
