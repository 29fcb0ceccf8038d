"""Plan versus what is planned, turned into actions: the places a plan moves and the ops that move each. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.failover.decision import NOTICE, Owner
from monitor.failover.owners import Owners

Op = tuple[str, int | None, int | None]  # (op, value, expected current value)


@dataclass(frozen=True, slots=True)
class PlaceChange:
    """One place (owner, channel) that a plan moves, and the actions that move it.

    Each op's `expect` is the value the channel holds if it is known; the store drops it when the place's last
    action was not applied (one pending, in flight, released, refused or only dry-run), so no false conflict.
    """

    channel: str
    value: int
    actuator: str
    target: str
    text: str | None
    ops: tuple[Op, ...]


def changes(owners: Owners, owner: Owner, before: Mapping[str, int], after: Mapping[str, int]) -> tuple[PlaceChange, ...]:
    """The places a plan moves and the actions that move each (expecting `before` where it is known)."""
    found = []
    for channel, value in after.items():
        old = before.get(channel, 0)
        if value == old:
            continue
        actuator, target, text = owners.placement(owner, channel)
        text = text if owner[0] == NOTICE else None
        found.append(PlaceChange(channel, value, actuator, target, text, tuple(ops(owner[0], old, value))))
    return tuple(found)


def ops(kind: str, old: int, new: int, known: bool = True) -> list[Op]:
    """The actions that take one place from `old` to `new`: (op, value, expected current value).

    `known`: the channel is known to hold `old`; otherwise nothing is expected (no conflict check).
    """
    expect = old if known else None
    if kind == NOTICE:
        return [("post_notice", 1, None)] if new else [("withdraw_notice", 0, None)]
    if new == 0:
        return [("pause", 0, expect)]  # the amount on the channel stays; it just stops spending
    if old == 0:
        return [("set_amount", new, None), ("resume", new, None)]  # the paused amount may be stale: no expect
    return [("set_amount", new, expect)]
