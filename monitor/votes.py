"""Each check's results from every location, turned into one verdict per round for the channel book. Pure.

The decider (--role decide) reads results as probers in every location write them. Each result updates its
location's sighting of the check; the check's verdict is the quorum of the sightings (monitor/quorum.py).

The book counts consecutive verdicts against a check's fail/recover thresholds, so it must get one verdict per
interval as with one location, not one per location's result (three locations would otherwise reach "3 failures
in a row" within one interval). So a round collects the results of one interval: it closes when every location
that may vote has reported since the last verdict, or one interval after its first result (a location that went
quiet does not hold the others up), and its close yields the one verdict. With one location every result closes
its round: exactly one verdict per result, as without quorum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.health import Verdict
from monitor.quorum import Quorum, Sighting, Vote, decide, fresh


@dataclass(frozen=True, slots=True)
class Observation:
    """One verdict for the book: the quorum of a check's locations when its round closed."""

    channel: str
    check: str
    verdict: Verdict
    at: float


@dataclass(slots=True)
class _Check:
    interval: float
    quorum: Quorum
    sightings: dict[str, Sighting] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)  # locations heard from in the open round
    opened: float | None = None  # when the open round got its first result
    vote: Vote | None = None  # as of the last closed round


class Votes:
    """Sightings per check and location, and the rounds that turn them into verdicts."""

    def __init__(self, checks: Mapping[tuple[str, str], tuple[float, Quorum]]) -> None:
        self._checks = {key: _Check(interval, quorum) for key, (interval, quorum) in checks.items()}

    def seed(self, channel: str, check: str, sighting: Sighting) -> None:
        """A location's latest result from before this decider started: it votes, without opening a round."""
        c = self._checks.get((channel, check))
        if c is not None:
            c.sightings[sighting.location] = sighting

    def add(
        self, channel: str, check: str, sighting: Sighting, now: float, lost: frozenset[str], live: frozenset[str] = frozenset()
    ) -> Observation | None:
        """A new result; the check's verdict when it closes the round. `live`: the locations whose probers beat
        now (a location that has not reported this check yet is waited for too, up to an interval)."""
        c = self._checks.get((channel, check))
        if c is None:  # a check no longer configured (results of an older config)
            return None
        previous = c.sightings.get(sighting.location)
        if previous is not None and previous.at > sighting.at:
            return None  # an older result read late (a gap filled): the newer one already voted
        c.sightings[sighting.location] = sighting
        c.reported.add(sighting.location)
        if c.opened is None:
            c.opened = now
        if c.reported >= self._expected(c, now, lost) | (live - lost):
            return self._close(channel, check, c, now, lost)
        return None

    def due(self, now: float, lost: frozenset[str]) -> list[Observation]:
        """Close the rounds open for an interval or more (a location did not report in time)."""
        return [
            self._close(channel, check, c, now, lost)
            for (channel, check), c in self._checks.items()
            if c.opened is not None and now - c.opened >= c.interval
        ]

    def vote(self, channel: str, check: str) -> Vote | None:
        """The check's vote as of its last round (who sees it failing, who cannot vote); None before any."""
        c = self._checks.get((channel, check))
        return c.vote if c is not None else None

    def locations(self) -> list[str]:
        """Every location heard from, sorted."""
        return sorted({loc for c in self._checks.values() for loc in c.sightings})

    def _expected(self, c: _Check, now: float, lost: frozenset[str]) -> set[str]:
        return {s.location for s in c.sightings.values() if fresh(s.at, now, c.interval) and s.location not in lost}

    def _close(self, channel: str, check: str, c: _Check, now: float, lost: frozenset[str]) -> Observation:
        c.vote = decide(c.sightings.values(), now=now, interval=c.interval, quorum=c.quorum, lost=lost)
        at = max(c.sightings[loc].at for loc in c.reported) if c.reported else now
        c.reported, c.opened = set(), None
        return Observation(channel, check, c.vote.verdict, at)


def checks_of(channels: Iterable) -> dict[tuple[str, str], tuple[float, Quorum]]:
    """(channel, check) -> (interval, quorum) of every configured check."""
    return {(ch.id, k.id): (k.interval_seconds, k.quorum) for ch in channels for k in ch.checks}
