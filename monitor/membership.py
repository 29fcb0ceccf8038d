"""Which prober of a location runs which check: rendezvous hashing over the live members. Pure.

Several probers in one location share its checks. Each check goes to the live member with the highest
hash(member, check) (rendezvous, or highest-random-weight, hashing): every prober computes the same answer
from the same member list without talking to the others, the checks spread evenly, and when a member joins
or leaves only the checks it wins or held move (about 1/n of them), not a reshuffle of all of them.

A member is live while its latest heartbeat is at most `timeout` old. A prober that dies stops beating; once its
heartbeat is older than the timeout the others no longer count it and take its checks over at their next look,
so its checks resume within two heartbeat timeouts (one to be declared dead, one for the others' next look).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Member:
    """A prober as its heartbeat row says: who, where, and when it last said it was alive."""

    id: str
    location: str
    seen_at: float
    lost: bool = False  # its own "is it us?" guard has tripped: its location's results do not vote


def live_locations(members: Iterable[Member], now: float, timeout: float) -> frozenset[str]:
    """Locations with at least one live prober."""
    return frozenset(m.location for m in members if now - m.seen_at <= timeout)


def lost_locations(members: Iterable[Member], now: float, timeout: float) -> frozenset[str]:
    """Locations where a live prober's own network is in doubt: their results say nothing about the channels."""
    return frozenset(m.location for m in members if m.lost and now - m.seen_at <= timeout)


def live(members: Iterable[Member], location: str, now: float, timeout: float) -> list[str]:
    """The ids of the location's members whose heartbeat is at most `timeout` old, sorted."""
    return sorted(m.id for m in members if m.location == location and now - m.seen_at <= timeout)


def weight(member: str, key: str) -> int:
    """A stable pseudo-random weight for (member, check): the same on every machine and every run (no hash seed)."""
    return int.from_bytes(hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest(), "big")


def owner(key: str, members: list[str]) -> str | None:
    """The member that runs the check `key` ("channel/check"); None when no member is live."""
    return max(members, key=lambda m: weight(m, key), default=None)


def assignment(keys: Iterable[str], members: list[str]) -> Mapping[str, list[str]]:
    """Every member's checks (each key exactly once), for the status of a location and for tests."""
    shares: dict[str, list[str]] = {m: [] for m in members}
    for key in keys:
        chosen = owner(key, members)
        if chosen is not None:
            shares[chosen].append(key)
    return shares
