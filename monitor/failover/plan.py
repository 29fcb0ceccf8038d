"""plan(): where each promotion's total should be, given which channels may hold it. Pure.

Every channel of a promotion has a standing:

    ACTIVE  healthy: keeps its normal amount and may receive more;
    FAILED  failed over: gets nothing;
    HOLD    neither (down but inside the hold-down, unknown, in maintenance, flapping): keeps its
            normal amount and never receives more, so failover neither starts nor ends because of it.

The failed channels' amounts are spread over the ACTIVE ones:

    proportional  in proportion to their normal amounts (equally if those are all 0);
    priority      to the `priority` list in order (then the rest in config order), each up to its cap.

Arithmetic is in integers (minor units). Floors first; the units left by rounding go one at a time to
the receivers with the largest normal amounts (ties: config order). A receiver never goes above its
`max`. What no receiver can take (every one at its cap) stays unallocated and is reported, so that
sum(amounts) + unallocated == total always holds. With no ACTIVE receiver at all, the plan says `held`:
the caller keeps the last allocation and tells a human (a promotion is never left without a channel).

When every channel is ACTIVE (or HOLD) again, the result is the normal allocation exactly: failback
is this same function, not a separate restore.

Two refinements need more than a channel's own standing:
- A placement that `lands_on` another channel (an ad that sends buyers to the own shop) takes the worse of
  its channel's standing and that channel's (placement_standings).
- Given what is planned now (`current`) and the standings it was planned under (`previous`), money only
  flows back during a failback: when failed channels came back and nothing else changed (no new failure, no
  other channel became ACTIVE, every receiver still ACTIVE), that is a failback step: they get their normal
  amounts and nothing more, and each receiver keeps a part of what it carries now, in proportion (priority:
  in its order), so no receiver ever holds more than before the step. What the receivers do not keep goes,
  like any plan's, to the ACTIVE channels below their `max` (only money no one could take before); only
  what none can take stays unallocated. Without this, a staggered failback would put a failed channel's
  money on a channel that just came back, only to take it away again at the next step. The same standings
  again give the same plan. Anything else (a new failure, a channel leaving HOLD, a receiver that stops
  receiving) is planned afresh, and so is a `current` that does not fit the config (planned under another
  total, caps or shares: see _fits). Without `previous`, only what `current` shows is known: a channel
  away from its normal amount was FAILED, one above it ACTIVE, any other counts as not ACTIVE then.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from monitor.failover.config import Promotion


class Standing(enum.Enum):
    ACTIVE = "active"
    FAILED = "failed"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Allocation:
    """A promotion's desired amount per channel (config order)."""

    amounts: dict[str, int]
    unallocated: int = 0  # could not be placed: every receiver at its cap
    held: bool = False  # nothing healthy to move to: keep the last allocation, alert

    @property
    def total(self) -> int:
        return sum(self.amounts.values()) + self.unallocated


def normal_amounts(promotion: Promotion) -> dict[str, int]:
    """The promotion's allocation with every channel healthy, in minor units.

    Fixed amounts are taken as given. Shares are turned into amounts by the largest-remainder
    method: floors first, then one unit each to the largest remainders (ties: the larger share,
    then config order), so the amounts add up to the total exactly.
    """
    placements = promotion.channels
    if all(p.amount is not None for p in placements.values()):
        return {c: p.amount for c, p in placements.items()}  # type: ignore[misc]
    shares = {c: p.share or 0.0 for c, p in placements.items()}
    # Exact rationals: shares given as decimals (33.3) must not drift with float rounding.
    exact = {c: Fraction(str(s)) for c, s in shares.items()}
    whole = sum(exact.values())
    ideal = {c: promotion.total * s / whole for c, s in exact.items()}
    amounts = {c: int(v) for c, v in ideal.items()}
    order = list(placements)
    left = promotion.total - sum(amounts.values())
    by_remainder = sorted(order, key=lambda c: (-(ideal[c] - amounts[c]), -exact[c], order.index(c)))
    for c in by_remainder[:left]:
        amounts[c] += 1
    return amounts


_WORSE = {Standing.ACTIVE: 0, Standing.HOLD: 1, Standing.FAILED: 2}


def placement_standings(promotion: Promotion, standings: Mapping[str, Standing]) -> dict[str, Standing]:
    """Each placement's standing: its channel's, or the channel its buyers land on if that one is worse."""
    out = {}
    for channel, placement in promotion.channels.items():
        own = standings.get(channel, Standing.HOLD)
        landing = own if placement.lands_on is None else standings.get(placement.lands_on, Standing.HOLD)
        out[channel] = max(own, landing, key=_WORSE.__getitem__)
    return out


def plan(
    promotion: Promotion,
    standings: Mapping[str, Standing],
    current: Mapping[str, int] | None = None,
    previous: Mapping[str, Standing] | None = None,
) -> Allocation:
    """The desired allocation of one promotion; a channel missing from `standings` counts as HOLD.

    `standings` are per placement (see placement_standings). With `current` (what is planned now) and
    `previous` (the standings it was planned under), a channel back from failover receives nothing more while
    another channel is still failed (see the module doc).
    """
    if current is None or Standing.FAILED not in standings.values() or not _fits(promotion, current):
        return _plan(promotion, standings)
    normal = normal_amounts(promotion)
    order = list(promotion.channels)
    now = {c: current[c] for c in order}
    standing = {c: standings.get(c, Standing.HOLD) for c in order}
    away = {c for c in order if now[c] < normal[c]}  # failed over in the current plan
    carrying = {c for c in order if now[c] > normal[c]}  # receiving a failed channel's part
    failed = {c for c in order if standing[c] is Standing.FAILED}
    if previous is None:  # only what `current` shows: away was FAILED, carrying was ACTIVE
        previous = {c: Standing.FAILED if c in away else Standing.ACTIVE if c in carrying else Standing.HOLD for c in order}
    back = {c for c in order if c in away or previous.get(c) is Standing.FAILED} - failed
    newly_active = {c for c in order if standing[c] is Standing.ACTIVE and previous.get(c, Standing.HOLD) is not Standing.ACTIVE}
    # (A failed channel with a normal amount of 0 holds 0 either way: it cannot tell a new failure.)
    if (
        {c for c in failed if normal[c]} <= away
        and newly_active <= back
        and carrying
        and all(standing[c] is Standing.ACTIVE for c in carrying)
    ):
        return _failback_step(promotion, normal, now, failed, carrying, standing)
    # Something new failed, a channel left HOLD, a receiver stopped receiving, or nobody carries anything.
    return _plan(promotion, standings)


def _fits(promotion: Promotion, current: Mapping[str, int]) -> bool:
    """Whether `current` can be a plan of this config: its channels, no more than the total, every amount within
    its `max`, and none between 0 and its normal amount (a failed channel holds 0, any other at least its normal).
    A config changed since (another total, a lowered cap, other shares or channels) is planned afresh."""
    if set(current) != set(promotion.channels) or sum(current.values()) > promotion.total:
        return False
    normal = normal_amounts(promotion)
    for c, p in promotion.channels.items():
        v = current[c]
        if v < 0 or (p.max is not None and v > p.max) or 0 < v < normal[c]:
            return False
    return True


def _failback_step(
    promotion: Promotion,
    normal: dict[str, int],
    now: dict[str, int],
    failed: set[str],
    carrying: set[str],
    standing: Mapping[str, Standing],
) -> Allocation:
    """Failed channels came back and nothing else changed: they get their normal amounts, the receivers keep
    what is still to be carried, never more than they carry now (so the step is also idempotent); what they do
    not keep goes to the ACTIVE channels with room, as in a fresh plan."""
    order = list(promotion.channels)
    moving = sum(normal[c] for c in failed)
    extra = {c: now[c] - normal[c] for c in order if c in carrying}
    if promotion.policy == "priority":
        gives = _in_order(moving, _ranked(promotion, list(extra)), extra)
    else:  # each keeps the same fraction of its part: largest remainders, ties to the larger part, then config order
        keep = min(moving, sum(extra.values()))
        whole = sum(extra.values())
        gives = {c: keep * e // whole for c, e in extra.items()}
        left = keep - sum(gives.values())
        for c in sorted(extra, key=lambda c: (-(keep * extra[c] % whole), -extra[c], order.index(c)))[:left]:
            gives[c] += 1
    amounts = {c: 0 if c in failed else normal[c] + gives.get(c, 0) for c in order}
    left = moving - sum(gives.values())
    receivers = [c for c in order if standing[c] is Standing.ACTIVE]
    room = {c: _room(promotion, c, amounts[c]) for c in receivers}
    if left and any(room.values()):
        more = (
            _in_order(left, _ranked(promotion, receivers), room)
            if promotion.policy == "priority"
            else _proportional(left, receivers, {c: normal[c] for c in receivers}, room, order)
        )
        for c, g in more.items():
            amounts[c] += g
        left -= sum(more.values())
    return Allocation(amounts, unallocated=left)


def _ranked(promotion: Promotion, channels: list[str]) -> list[str]:
    """`channels` in priority order: the `priority` list first, then config order."""
    return [c for c in promotion.priority if c in channels] + [c for c in channels if c not in promotion.priority]


def _plan(promotion: Promotion, standings: Mapping[str, Standing]) -> Allocation:
    normal = normal_amounts(promotion)
    order = list(promotion.channels)
    standing = {c: standings.get(c, Standing.HOLD) for c in order}
    failed = [c for c in order if standing[c] is Standing.FAILED]
    amounts = {c: (0 if standing[c] is Standing.FAILED else normal[c]) for c in order}
    moving = sum(normal[c] for c in failed)
    receivers = [c for c in order if standing[c] is Standing.ACTIVE]
    if moving == 0:
        return Allocation(amounts)
    if not receivers:
        return Allocation({c: normal[c] for c in order}, held=True)
    room = {c: _room(promotion, c, amounts[c]) for c in receivers}
    if promotion.policy == "priority":
        gives = _in_order(moving, _ranked(promotion, receivers), room)
    else:
        gives = _proportional(moving, receivers, {c: normal[c] for c in receivers}, room, order)
    for c, g in gives.items():
        amounts[c] += g
    return Allocation(amounts, unallocated=moving - sum(gives.values()))


def _room(promotion: Promotion, channel: str, amount: int) -> int:
    cap = promotion.channels[channel].max
    return promotion.total if cap is None else max(0, cap - amount)


def _in_order(moving: int, ranked: list[str], room: dict[str, int]) -> dict[str, int]:
    gives: dict[str, int] = {}
    for c in ranked:
        gives[c] = min(moving, room[c])
        moving -= gives[c]
    return gives


def _proportional(moving: int, receivers: list[str], weight: dict[str, int], room: dict[str, int], order: list[str]) -> dict[str, int]:
    """Spread `moving` by weight, capped by room (water-filling, in exact fractions), then round.

    First the receivers whose exact share would pass their cap are settled at the cap, and the rest is
    shared again among the others, until no share passes a cap. Then each open receiver gets the floor
    of its exact share, and the units left by rounding (fewer than the open receivers) go one at a time
    to the largest weights (ties: config order); a share below its cap leaves room for that unit.
    """
    gives = dict.fromkeys(receivers, 0)
    open_ = [c for c in receivers if room[c] > 0]
    left = moving

    def shares() -> dict[str, int]:  # all-zero weights share equally
        return {c: weight[c] for c in open_} if any(weight[c] for c in open_) else dict.fromkeys(open_, 1)

    while open_:
        w = shares()
        whole = sum(w.values())
        full = [c for c in open_ if Fraction(left * w[c], whole) >= room[c]]
        if not full:
            break
        for c in full:
            gives[c] = room[c]
            left -= room[c]
            open_.remove(c)
    if not open_:
        return gives  # every receiver at its cap: what is left stays unallocated
    w = shares()
    whole = sum(w.values())
    for c in open_:
        gives[c] = left * w[c] // whole
    units = left - sum(gives[c] for c in open_)
    for c in sorted(open_, key=lambda c: (-w[c], order.index(c)))[:units]:
        gives[c] += 1
    return gives
