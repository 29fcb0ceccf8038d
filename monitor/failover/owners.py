"""What the config says about each owner (a promotion or a customer notice): its normal values, the channels it
uses, where it is placed, and its changes in words. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from monitor.core.money import money
from monitor.failover.config import Failover, Notice, Promotion
from monitor.failover.decision import NOTICE, PROMOTION, Owner
from monitor.failover.plan import normal_amounts


class Owners:
    """The configured promotions and notices, and the channel names people read."""

    def __init__(self, failover: Failover, names: Mapping[str, str] | None = None) -> None:
        self.names = dict(names or {})  # channel id -> name, for texts people read
        self.promotions: dict[str, Promotion] = {p.id: p for p in failover.promotions}
        self.notices: dict[str, Notice] = {n.id: n for n in failover.notices}

    def keys(self) -> list[Owner]:
        return [(PROMOTION, p) for p in self.promotions] + [(NOTICE, n) for n in self.notices]

    def normal(self, owner: Owner) -> dict[str, int]:
        """What an owner holds with every channel healthy: the normal amounts, or no notice posted."""
        kind, name = owner
        if kind == PROMOTION:
            return normal_amounts(self.promotions[name])
        return dict.fromkeys(self.notices[name].post_on, 0)

    def uses(self, owner: Owner) -> set[str]:
        """The channels an owner depends on: a promotion's placements and where their buyers land; a notice's
        when_down and post_on channels."""
        kind, name = owner
        if kind == PROMOTION:
            placements = self.promotions[name].channels
            return set(placements) | {p.lands_on for p in placements.values() if p.lands_on}
        notice = self.notices[name]
        return {notice.when_down, *notice.post_on}

    def takes_away(self, owner: Owner, before: Mapping[str, int], after: Mapping[str, int]) -> bool:
        """Whether a plan counts as a move: it leaves some channel below what it holds now and below its normal
        amount (a new failure). Giving back (failback, the return to normal) never counts."""
        normal = self.normal(owner)
        return any(v < before.get(c, normal[c]) and v < normal[c] for c, v in after.items() if c in normal)

    def placement(self, owner: Owner, channel: str) -> tuple[str, str, str | None]:
        """Where an owner's place on a channel is set: (actuator, target, notice text or None)."""
        kind, name = owner
        if kind == PROMOTION:
            placement = self.promotions[name].channels[channel]
            return placement.actuator, placement.target, None
        notice = self.notices[name]
        return notice.actuator, notice.target, notice.text

    def describe(self, owner: Owner, before: Mapping[str, int], after: Mapping[str, int]) -> str:
        """A plan's changes for people: 'Allegro 1,000.00 PLN -> 1,400.00 PLN, ...' or 'post on Messenger'."""
        changed = [c for c, v in after.items() if before.get(c, 0) != v]
        if owner[0] == NOTICE:
            parts = [
                f"{verb} {', '.join(self.name(c) for c in changed if bool(after[c]) == posted)}"
                for verb, posted in (("post on", True), ("withdraw from", False))
                if any(bool(after[c]) == posted for c in changed)
            ]
            return "; ".join(parts)
        unit = self.promotions[owner[1]].unit
        return ", ".join(f"{self.name(c)} {money(before.get(c, 0), unit)} -> {money(after[c], unit)}" for c in changed)

    def name(self, channel: str) -> str:
        return self.names.get(channel, channel)
