"""plan() and normal_amounts(): table tests with exact numbers, then Hypothesis properties.

The spec is the module docstring of monitor/failover/plan.py. Standings are written in the tables as
one letter per channel in config order: A (ACTIVE), F (FAILED), H (HOLD), - (missing: counts as HOLD).
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.failover.config import Placement, Promotion
from monitor.failover.plan import Allocation, Standing, normal_amounts, plan

A, F, H = Standing.ACTIVE, Standing.FAILED, Standing.HOLD
LETTER = {"A": A, "F": F, "H": H}


def promotion(
    total: int, channels: dict[str, dict[str, Any]], policy: str = "proportional", priority: tuple[str, ...] | list[str] = ()
) -> Promotion:
    return Promotion(
        id="promo",
        name="Promo",
        total=total,
        policy=policy,
        priority=list(priority),
        channels={c: Placement(actuator="log", **kw) for c, kw in channels.items()},
    )


def shares(
    total: int, *, policy: str = "proportional", priority: tuple[str, ...] = (), caps: dict[str, int] | None = None, **weights: float
) -> Promotion:
    caps = caps or {}
    return promotion(total, {c: {"share": w, "max": caps.get(c)} for c, w in weights.items()}, policy, priority)


def amounts(*, policy: str = "proportional", priority: tuple[str, ...] = (), caps: dict[str, int] | None = None, **given: int) -> Promotion:
    caps = caps or {}
    return promotion(sum(given.values()), {c: {"amount": a, "max": caps.get(c)} for c, a in given.items()}, policy, priority)


def standings_of(p: Promotion, letters: str) -> dict[str, Standing]:
    assert len(letters) == len(p.channels)
    return {c: LETTER[x] for c, x in zip(p.channels, letters) if x != "-"}


REFERENCE = shares(100_000, a=50, b=30, c=20)

# (id, promotion, standings, expected amounts, unallocated, held)
PLAN_CASES = [
    # Normal 50000/30000/20000; b's 30000 moves to a and c in proportion 50000:20000.
    # Floors: 30000*5/7 = 21428.57 -> 21428 and 30000*2/7 = 8571.43 -> 8571, 29999 placed.
    # The one unit left by rounding goes to the receiver with the largest normal amount (a, 50000),
    # so a = 50000 + 21429 = 71429 and c = 20000 + 8571 = 28571. (The largest remainder, .57 for a,
    # would pick a too.)
    ("reference-b-fails", REFERENCE, "AFA", {"a": 71429, "b": 0, "c": 28571}, 0, False),
    # 50000 over 30000:20000 -> 30000 and 20000 exactly, nothing to round.
    ("reference-a-fails", REFERENCE, "FAA", {"a": 0, "b": 60000, "c": 40000}, 0, False),
    # 20000 over 50000:30000 -> 12500 and 7500 exactly.
    ("reference-c-fails", REFERENCE, "AAF", {"a": 62500, "b": 37500, "c": 0}, 0, False),
    ("all-active-is-normal", REFERENCE, "AAA", {"a": 50000, "b": 30000, "c": 20000}, 0, False),
    ("no-standings-is-all-hold", REFERENCE, "---", {"a": 50000, "b": 30000, "c": 20000}, 0, False),
    # Fixed amounts 60000/25000/15000, c fails: 15000*60/85 = 10588.24 -> 10588, 15000*25/85 = 4411.76
    # -> 4411; the unit left goes to the largest normal amount (a), not to the largest remainder (b).
    ("fixed-amounts", amounts(a=60000, b=25000, c=15000), "AAF", {"a": 70589, "b": 29411, "c": 0}, 0, False),
    # 2 over 3:3:3: floors 0, two units left, one each to the largest normal amounts, tie: config order.
    ("rounding-ties-config-order", amounts(a=3, b=3, c=3, d=2), "AAAF", {"a": 4, "b": 4, "c": 3, "d": 0}, 0, False),
    # Proportional with a cap: a can take only 10000 of its 21428, the rest goes round again to c.
    ("proportional-cap-overflows", shares(100_000, a=50, b=30, c=20, caps={"a": 60000}), "AFA", {"a": 60000, "b": 0, "c": 40000}, 0, False),
    ("proportional-cap-at-normal", shares(100_000, a=50, b=30, c=20, caps={"a": 50000}), "AFA", {"a": 50000, "b": 0, "c": 50000}, 0, False),
    # Priority: c first, filled to its max 25000 (room 5000), the remaining 25000 to a.
    (
        "priority-caps",
        shares(100_000, a=50, b=30, c=20, policy="priority", priority=("c", "a"), caps={"c": 25000}),
        "AFA",
        {"a": 75000, "b": 0, "c": 25000},
        0,
        False,
    ),
    (
        "priority-first-takes-all",
        shares(100_000, a=50, b=30, c=20, policy="priority", priority=("c", "a")),
        "AFA",
        {"a": 50000, "b": 0, "c": 50000},
        0,
        False,
    ),
    # Priority [c]: c up to its max 40 (room 10); then the rest in config order: a up to 15 (room 5),
    # then b (no cap) takes the remaining 25.
    (
        "priority-unlisted-config-order",
        amounts(a=10, b=20, c=30, d=40, policy="priority", priority=("c",), caps={"a": 15, "c": 40}),
        "AAAF",
        {"a": 15, "b": 45, "c": 40, "d": 0},
        0,
        False,
    ),
    # A failed channel in the priority list is skipped; HOLD d neither gives nor receives.
    (
        "priority-skips-failed-and-hold",
        amounts(a=10, b=20, c=30, d=40, policy="priority", priority=("b", "d", "c"), caps={"c": 35}),
        "AFAH",
        {"a": 25, "b": 0, "c": 35, "d": 40},
        0,
        False,
    ),
    # Every receiver at its cap: a takes 5000, c 1000, 24000 stays unallocated (76000 + 24000 = 100000).
    (
        "all-capped-proportional",
        shares(100_000, a=50, b=30, c=20, caps={"a": 55000, "c": 21000}),
        "AFA",
        {"a": 55000, "b": 0, "c": 21000},
        24000,
        False,
    ),
    (
        "all-capped-priority",
        shares(100_000, a=50, b=30, c=20, policy="priority", priority=("c",), caps={"a": 55000, "c": 21000}),
        "AFA",
        {"a": 55000, "b": 0, "c": 21000},
        24000,
        False,
    ),
    # HOLD is not a receiver: a capped, HOLD c uncapped, so the rest is unallocated, not put on c.
    (
        "hold-never-receives-when-others-capped",
        shares(100_000, a=50, b=30, c=20, caps={"a": 51000}),
        "AFH",
        {"a": 51000, "b": 0, "c": 20000},
        29000,
        False,
    ),
    ("all-failed-held", REFERENCE, "FFF", {"a": 50000, "b": 30000, "c": 20000}, 0, True),
    ("single-channel-failed-held", shares(7, only=1), "F", {"only": 7}, 0, True),
    ("failed-beside-hold-only-held", REFERENCE, "HFH", {"a": 50000, "b": 30000, "c": 20000}, 0, True),
    ("failed-beside-missing-only-held", REFERENCE, "-F-", {"a": 50000, "b": 30000, "c": 20000}, 0, True),
    ("hold-keeps-normal-receives-nothing", REFERENCE, "AFH", {"a": 80000, "b": 0, "c": 20000}, 0, False),
    ("missing-standing-is-hold", REFERENCE, "AF-", {"a": 80000, "b": 0, "c": 20000}, 0, False),
    # A failed channel whose normal amount is 0 moves nothing, so nothing is held.
    ("failed-zero-normal-not-held", shares(100, a=1, b=0), "HF", {"a": 100, "b": 0}, 0, False),
    ("failed-zero-normal-moves-nothing", shares(100, a=1, b=0), "AF", {"a": 100, "b": 0}, 0, False),
    # Receivers' normal amounts all 0: split equally, 101 / 3 = 33 each, 2 units left: a, b (config order).
    ("zero-share-receivers-split-equally", shares(101, a=0, b=0, c=0, d=1), "AAAF", {"a": 34, "b": 34, "c": 33, "d": 0}, 0, False),
    ("zero-share-receivers-split-equally-one-unit", shares(1, a=0, b=0, c=1), "AAF", {"a": 1, "b": 0, "c": 0}, 0, False),
    # One receiver has a normal amount: it takes everything, the 0-share one nothing.
    ("zero-share-beside-weighted", shares(100, a=0, b=1, c=1), "AAF", {"a": 0, "b": 100, "c": 0}, 0, False),
    # ... unless the weighted one is capped: what it cannot take goes to the 0-share one, not unallocated.
    ("zero-share-takes-what-capped-cannot", shares(100, a=0, b=1, c=1, caps={"b": 60}), "AAF", {"a": 40, "b": 60, "c": 0}, 0, False),
]


@pytest.mark.parametrize(
    ("promo", "letters", "expected", "unallocated", "held"), [case[1:] for case in PLAN_CASES], ids=[case[0] for case in PLAN_CASES]
)
def test_plan_table(promo: Promotion, letters: str, expected: dict[str, int], unallocated: int, held: bool) -> None:
    result = plan(promo, standings_of(promo, letters))
    assert result == Allocation(expected, unallocated=unallocated, held=held)
    assert list(result.amounts) == list(promo.channels)  # config order
    assert result.total == sum(result.amounts.values()) + result.unallocated == promo.total


def test_standings_for_unknown_channels_are_ignored() -> None:
    assert plan(REFERENCE, {"a": A, "b": F, "c": A, "zz": F}) == plan(REFERENCE, {"a": A, "b": F, "c": A})


# Rounding units go out one at a time: never two to the same receiver. (An earlier plan.py spread
# them proportionally again, so the heaviest receiver could take several: the values in the comments.)
# (id, promotion, standings, expected amounts)
ROUNDING_CASES = [
    # 3 over 2:1:1 -> 1.5, 0.75, 0.75: floors 1, 0, 0; two units left, one each to the two largest normal
    # amounts (a, then b before c by config order): a 2+2, b 1+1, c 1. (Was a 5, b 1, c 1.) The smallest
    # such case: with fewer than 3 receivers at most 1 unit is left.
    ("3-over-2-1-1", amounts(a=2, b=1, c=1, d=3), "AAAF", {"a": 4, "b": 2, "c": 1, "d": 0}),
    # 7 over 5:3:1 -> 3.89, 2.33, 0.78: floors 3, 2, 0; two units to a and b. (Was a 10, b 5, c 1.)
    ("7-over-5-3-1", amounts(a=5, b=3, c=1, d=7), "AAAF", {"a": 9, "b": 6, "c": 1, "d": 0}),
    # 101 over 100:1:1 -> 99.02, 0.99, 0.99: floors 99, 0, 0; a 200, b 2, c 1. (Was a 201, b 1, c 1.)
    ("101-over-100-1-1", amounts(a=100, b=1, c=1, d=101), "AAAF", {"a": 200, "b": 2, "c": 1, "d": 0}),
    # A unit would go to a, but a is at its cap after the floors: it goes to the next one, b.
    # 3 over 2:1:1 -> floors 1, 0, 0 (a reaches its max 3), units to b and c.
    ("unit-skips-full-receiver", amounts(a=2, b=1, c=1, d=3, caps={"a": 3}), "AAAF", {"a": 3, "b": 2, "c": 2, "d": 0}),
]


@pytest.mark.parametrize(("promo", "letters", "expected"), [case[1:] for case in ROUNDING_CASES], ids=[case[0] for case in ROUNDING_CASES])
def test_rounding_units_go_one_at_a_time(promo: Promotion, letters: str, expected: dict[str, int]) -> None:
    assert plan(promo, standings_of(promo, letters)) == Allocation(expected)


def test_priority_list_may_not_name_a_channel_twice() -> None:
    # plan() ranks receivers by walking the list; a repeated name would be walked twice. Config refuses it.
    with pytest.raises(ValidationError, match="more than once"):
        amounts(a=50, b=50, policy="priority", priority=("a", "a"))


# (id, promotion, expected normal amounts)
NORMAL_CASES = [
    ("33.3-33.3-33.4-of-100", shares(100, a=33.3, b=33.3, c=33.4), {"a": 33, "b": 33, "c": 34}),
    ("33.3-33.3-33.4-of-10", shares(10, a=33.3, b=33.3, c=33.4), {"a": 3, "b": 3, "c": 4}),
    ("33.3-33.3-33.4-of-1", shares(1, a=33.3, b=33.3, c=33.4), {"a": 0, "b": 0, "c": 1}),
    # Equal remainders and equal shares: config order.
    ("1-1-1-of-100", shares(100, a=1, b=1, c=1), {"a": 34, "b": 33, "c": 33}),
    ("1-1-1-of-1", shares(1, a=1, b=1, c=1), {"a": 1, "b": 0, "c": 0}),
    ("1-1-1-of-2", shares(2, a=1, b=1, c=1), {"a": 1, "b": 1, "c": 0}),
    ("1-1-1-of-3", shares(3, a=1, b=1, c=1), {"a": 1, "b": 1, "c": 1}),
    ("1-1-1-of-10**15", shares(10**15, a=1, b=1, c=1), {"a": 333_333_333_333_334, "b": 333_333_333_333_333, "c": 333_333_333_333_333}),
    # Equal remainders (.5 and .5): the larger share wins, whatever the config order.
    ("1-3-of-2", shares(2, a=1, b=3), {"a": 0, "b": 2}),
    ("3-1-of-2", shares(2, a=3, b=1), {"a": 2, "b": 0}),
    # 1, .5, .5: one unit left, b and c tie on remainder and share -> config order.
    ("2-1-1-of-2", shares(2, a=2, b=1, c=1), {"a": 1, "b": 1, "c": 0}),
    ("1-1-2-of-2", shares(2, a=1, b=1, c=2), {"a": 1, "b": 0, "c": 1}),
    # 1/3 and 2/3 of 1: the larger remainder (b) gets the unit.
    ("1-2-of-1", shares(1, a=1, b=2), {"a": 0, "b": 1}),
    # Decimal shares are exact: no float drift (0.1 + 0.2 != 0.3 in floats).
    ("0.1-0.2-0.7-of-10", shares(10, a=0.1, b=0.2, c=0.7), {"a": 1, "b": 2, "c": 7}),
    ("50-30-20-of-100000", REFERENCE, {"a": 50000, "b": 30000, "c": 20000}),
    ("zero-share", shares(5, a=0, b=1), {"a": 0, "b": 5}),
    ("fixed-amounts", amounts(a=60000, b=25000, c=15000), {"a": 60000, "b": 25000, "c": 15000}),
]


@pytest.mark.parametrize(("promo", "expected"), [case[1:] for case in NORMAL_CASES], ids=[case[0] for case in NORMAL_CASES])
def test_normal_amounts_table(promo: Promotion, expected: dict[str, int]) -> None:
    result = normal_amounts(promo)
    assert result == expected
    assert list(result) == list(promo.channels)
    assert sum(result.values()) == promo.total


# --- Hypothesis --------------------------------------------------------------------------------------

SLUGS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
SHARES = st.one_of(
    st.integers(0, 100), st.sampled_from([0.1, 0.2, 0.7, 33.3, 33.4, 1 / 3, 1e-9]), st.floats(0, 1e9, allow_nan=False, allow_infinity=False)
)
TOTALS = st.one_of(st.integers(1, 20), st.integers(1, 10**6), st.integers(1, 10**12))
STANDING = st.sampled_from([A, A, F, F, H, None])  # None: missing from the dict (counts as HOLD)


@st.composite
def promotions(draw: st.DrawFn, *, caps: bool = True, policies: tuple[str, ...] = ("proportional", "priority")) -> Promotion:
    """1..8 channels, all shares or all amounts adding up to the total, optional caps >= normal."""
    n = draw(st.integers(1, 8))
    ids = draw(st.lists(SLUGS, min_size=n, max_size=n, unique=True))
    total = draw(TOTALS)
    if draw(st.booleans()):
        weights = draw(st.lists(SHARES, min_size=n, max_size=n).filter(lambda w: sum(w) > 0))
        placements = {c: {"share": w} for c, w in zip(ids, weights)}
    else:
        cuts = sorted(draw(st.lists(st.integers(0, total), min_size=n - 1, max_size=n - 1)))
        placements = {c: {"amount": hi - lo} for c, lo, hi in zip(ids, [0, *cuts], [*cuts, total])}
    policy = draw(st.sampled_from(policies))
    priority = draw(st.permutations(ids))[: draw(st.integers(0, n))] if policy == "priority" else []
    uncapped = promotion(total, placements, policy, priority)
    if not caps:
        return uncapped
    normal = normal_amounts(uncapped)
    for c in ids:  # config validation requires max >= the normal amount
        if draw(st.booleans()):
            placements[c]["max"] = normal[c] + draw(st.one_of(st.just(0), st.integers(0, 10), st.integers(0, total)))
    return promotion(total, placements, policy, priority)


@st.composite
def cases(draw: st.DrawFn, **kwargs: Any) -> tuple[Promotion, dict[str, Standing]]:
    p = draw(promotions(**kwargs))
    picks = draw(st.lists(STANDING, min_size=len(p.channels), max_size=len(p.channels)))
    return p, {c: s for c, s in zip(p.channels, picks) if s is not None}


def standing_of(standings: dict[str, Standing], channel: str) -> Standing:
    return standings.get(channel, H)


def cap_of(p: Promotion, channel: str) -> int | None:
    return p.channels[channel].max


PROPERTY = settings(max_examples=300, deadline=None)

# The smallest case the earlier rounding got wrong (see ROUNDING_CASES): always tried first.
ROUNDING_EXAMPLE = (amounts(a=2, b=1, c=1, d=3), {"a": A, "b": A, "c": A, "d": F})
# The smallest case an earlier capped rounding got wrong (see test_capped_rounding_minimal_example).
CAPPED_EXAMPLE = (amounts(a=1, b=2, c=3, z=4, caps={"c": 4}), {"a": A, "b": A, "c": A, "z": F})


@PROPERTY
@given(cases())
def test_conservation(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    result = plan(p, s)
    assert sum(result.amounts.values()) + result.unallocated == p.total
    assert result.unallocated >= 0
    assert list(result.amounts) == list(p.channels)
    assert sum(normal_amounts(p).values()) == p.total


@PROPERTY
@given(cases())
def test_caps_and_no_negatives(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    result = plan(p, s)
    assert all(a >= 0 for a in result.amounts.values())
    if not result.held:
        for c, a in result.amounts.items():
            cap = cap_of(p, c)
            assert cap is None or a <= cap, c


@PROPERTY
@given(cases())
def test_standings_are_respected(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    result, normal = plan(p, s), normal_amounts(p)
    if result.held:
        assert result.amounts == normal and result.unallocated == 0
        return
    for c, a in result.amounts.items():
        standing = standing_of(s, c)
        if standing is F:
            assert a == 0, c
        elif standing is H:
            assert a == normal[c], c
        else:
            assert a >= normal[c], c


@PROPERTY
@given(cases())
def test_unallocated_only_when_every_receiver_is_capped(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    result = plan(p, s)
    if result.unallocated > 0:
        receivers = [c for c in p.channels if standing_of(s, c) is A]
        assert receivers
        assert all(cap_of(p, c) is not None and result.amounts[c] == cap_of(p, c) for c in receivers)


@PROPERTY
@given(cases())
def test_held_iff_something_to_move_and_nowhere_to_go(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    normal = normal_amounts(p)
    something_to_move = any(standing_of(s, c) is F and normal[c] > 0 for c in p.channels)
    nowhere_to_go = not any(standing_of(s, c) is A for c in p.channels)
    assert plan(p, s).held == (something_to_move and nowhere_to_go)


@PROPERTY
@given(
    promotions(),
    st.lists(st.lists(STANDING, min_size=8, max_size=8), max_size=5),
    st.lists(st.sampled_from([A, H, None]), min_size=8, max_size=8),
)
def test_failback_restores_normal_exactly(p: Promotion, history: list[list[Standing | None]], recovered: list[Standing | None]) -> None:
    normal = Allocation(normal_amounts(p))
    before = plan(p, dict.fromkeys(p.channels, A))
    assert before == normal
    for picks in history:  # any outages in between: plan keeps no state
        plan(p, {c: x for c, x in zip(p.channels, picks) if x is not None})
    assert plan(p, dict.fromkeys(p.channels, A)) == before
    # Back to ACTIVE or HOLD (or unknown) everywhere, no FAILED: the normal allocation too.
    assert plan(p, {c: x for c, x in zip(p.channels, recovered) if x is not None}) == normal


@PROPERTY
@given(cases())
def test_pure_and_idempotent(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    s_before, p_before = dict(s), copy.deepcopy(p.model_dump())
    first = plan(p, s)
    assert plan(p, s) == first
    assert s == s_before
    assert p.model_dump() == p_before
    first.amounts["NOT A CHANNEL"] = 1  # the result is the caller's own: no cache leaks it into the next
    assert "NOT A CHANNEL" not in plan(p, s).amounts


def test_one_more_failure_can_cost_a_receiver_its_rounding_unit() -> None:
    # Why monotonicity below holds only up to one unit. c fails: 4 over 1:1:5 -> 0.57, 0.57, 2.86,
    # floors 0, 0, 2, the 2 units to d and a (largest normal amount, then config order): a 2, b 1, d 8.
    # b fails too: 5 over 1:5 -> 0.83, 4.17, floors 0, 4, the 1 unit to d: a 1, d 10. a's ideal extra
    # grew (0.57 -> 0.83) but it lost its rounding unit. Every rounding to whole units has such cases
    # (Balinski-Young: staying within 1 of the ideal and never moving against it cannot both hold).
    p = amounts(a=1, b=1, c=4, d=5)
    assert plan(p, standings_of(p, "AAFA")) == Allocation({"a": 2, "b": 1, "c": 0, "d": 8})
    assert plan(p, standings_of(p, "AFFA")) == Allocation({"a": 1, "b": 0, "c": 0, "d": 10})


def one_more_failed(p: Promotion, s: dict[str, Standing], pick: int) -> tuple[str, Allocation, Allocation]:
    """A channel that is not FAILED in `s` (the pick-th, wrapping), and the plans before and after it fails.
    Skips (assume) the cases where either plan is held: then everything is at its normal amount, by design."""
    candidates = [c for c in p.channels if standing_of(s, c) is not F]
    assume(candidates)
    x = candidates[pick % len(candidates)]
    before, after = plan(p, s), plan(p, {**s, x: F})
    assume(not before.held and not after.held)
    return x, before, after


@PROPERTY
@given(cases(caps=False, policies=("proportional",)), st.integers(0, 7))
def test_monotone_proportional_without_caps(case: tuple[Promotion, dict[str, Standing]], pick: int) -> None:
    # One more FAILED channel (ACTIVE or HOLD before) moves more onto the same or fewer receivers, so
    # every remaining receiver's ideal extra moving*w/W grows and no other FAILED channel gets anything.
    # The amounts are rounded, so an ACTIVE channel may lose one unit (the case above), never more:
    # extra is floor(ideal) or floor(ideal)+1 (test_proportional_extra_within_one_unit_of_ideal) and
    # floor(ideal) does not go down. Restricted to proportional without caps, where this bound follows
    # from the documented rule and plan.py keeps it; with caps see the next test, priority the one after.
    p, s = case
    x, before, after = one_more_failed(p, s, pick)
    for c in p.channels:
        if c == x:
            continue
        if standing_of(s, c) is F:
            assert after.amounts[c] == before.amounts[c] == 0, c
        elif standing_of(s, c) is A:
            assert after.amounts[c] >= before.amounts[c] - 1, c
        else:
            assert after.amounts[c] == before.amounts[c], c


@PROPERTY
@given(cases(policies=("proportional",)), st.integers(0, 7))
# g (HOLD, normal 1) fails too. An earlier plan.py floored the shares before settling the caps and
# spread the units lost that way by weight again, mostly to a: a went from 82 to 80.
@example(
    (
        amounts(a=39, b=2, c=46, d=36, e=2, f=3, g=1, h=1, caps={"c": 48, "e": 4, "f": 4}),
        {"a": A, "b": A, "c": F, "d": H, "e": A, "f": A, "g": H, "h": A},
    ),
    5,
)
def test_monotone_proportional_with_caps(case: tuple[Promotion, dict[str, Standing]], pick: int) -> None:
    # With caps the ideal is "water filling": each receiver min(its room, level * weight), the level
    # set so that everything that moves is placed (or every receiver is full). One more failure only
    # raises the level, so with the documented rounding no ACTIVE channel loses more than one unit.
    p, s = case
    x, before, after = one_more_failed(p, s, pick)
    for c in p.channels:
        if c != x and standing_of(s, c) is A:
            assert after.amounts[c] >= before.amounts[c] - 1, c


@PROPERTY
@given(cases(policies=("priority",)), st.integers(0, 7))
def test_monotone_priority(case: tuple[Promotion, dict[str, Standing]], pick: int) -> None:
    # Each receiver takes min(its room, what is left when its turn comes); one more FAILED channel adds
    # to what moves and, if it was ACTIVE, takes itself out of the queue: nobody's turn gets less.
    # Exact, caps or not: no rounding in this policy.
    p, s = case
    x, before, after = one_more_failed(p, s, pick)
    for c in p.channels:
        if c != x and standing_of(s, c) is A:
            assert after.amounts[c] >= before.amounts[c], c
    assert after.unallocated >= before.unallocated


def ideal_extras(p: Promotion, s: dict[str, Standing]) -> tuple[dict[str, Fraction], dict[str, int]] | None:
    """The exact (rational) extras of the proportional policy, and the weights of the receivers left
    open (below their cap). A receiver whose share reaches its room gets the room and the rest is spread
    again over the others, until nobody's share passes its room. None when nothing moves or nobody can
    receive."""
    normal, order = normal_amounts(p), list(p.channels)
    receivers = [c for c in order if standing_of(s, c) is A]
    moving = sum(normal[c] for c in order if standing_of(s, c) is F)
    if not receivers or moving == 0:
        return None
    room = {c: None if cap_of(p, c) is None else cap_of(p, c) - normal[c] for c in receivers}
    ideal = dict.fromkeys(receivers, Fraction(0))
    left, open_ = Fraction(moving), [c for c in receivers if room[c] != 0]
    while open_:
        weight = {c: normal[c] for c in open_} if any(normal[c] for c in open_) else dict.fromkeys(open_, 1)
        whole = sum(weight.values())
        full = [c for c in open_ if room[c] is not None and left * weight[c] / whole >= room[c]]
        if not full:
            ideal.update({c: left * weight[c] / whole for c in open_})
            return ideal, weight
        for c in full:
            ideal[c] = Fraction(room[c])
            left -= room[c]
        open_ = [c for c in open_ if c not in full]
    return ideal, {}


def spec_extras(p: Promotion, s: dict[str, Standing]) -> dict[str, int] | None:
    """The docstring's rule: floors of the exact extras, then the units left by rounding one at a time
    to the open receivers with the largest normal amounts (ties: config order). None: nothing moves."""
    exact = ideal_extras(p, s)
    if exact is None:
        return None
    ideal, weight = exact
    order = list(p.channels)
    extras = {c: v.numerator // v.denominator for c, v in ideal.items()}
    left = sum(ideal.values()) - sum(extras.values())
    assert left.denominator == 1 and 0 <= left < max(1, len(weight))
    for c in sorted(weight, key=lambda c: (-weight[c], order.index(c)))[: int(left)]:
        extras[c] += 1  # stays within the cap: an open receiver's exact share is below its room
    return extras


def receivers_and_moving(p: Promotion, s: dict[str, Standing]) -> tuple[list[str], int]:
    normal = normal_amounts(p)
    return ([c for c in p.channels if standing_of(s, c) is A], sum(normal[c] for c in p.channels if standing_of(s, c) is F))


@PROPERTY
@given(cases(caps=False, policies=("proportional",)))
@example(ROUNDING_EXAMPLE)
def test_proportional_extra_within_one_unit_of_ideal(case: tuple[Promotion, dict[str, Standing]]) -> None:
    # Exact bound: every receiver's extra is floor(moving*w/W) or that + 1, since the units left by
    # rounding (fewer than the receivers) go out one at a time. So |extra - moving*w/W| < 1.
    p, s = case
    receivers, moving = receivers_and_moving(p, s)
    assume(receivers and moving)
    normal, result = normal_amounts(p), plan(p, s)
    weight = {c: normal[c] for c in receivers} if any(normal[c] for c in receivers) else dict.fromkeys(receivers, 1)
    whole = sum(weight.values())
    for c in receivers:
        extra = result.amounts[c] - normal[c]
        floor = moving * weight[c] // whole
        assert floor <= extra <= floor + 1, (c, extra, Fraction(moving * weight[c], whole))
    assert result.unallocated == 0


@PROPERTY
@given(cases(caps=False, policies=("proportional",)))
@example(ROUNDING_EXAMPLE)
def test_proportional_matches_the_documented_rule(case: tuple[Promotion, dict[str, Standing]]) -> None:
    p, s = case
    extras = spec_extras(p, s)
    assume(extras is not None)
    normal, result = normal_amounts(p), plan(p, s)
    assert {c: result.amounts[c] - normal[c] for c in extras} == extras


@PROPERTY
@given(cases(policies=("proportional",)))
@example(CAPPED_EXAMPLE)
def test_proportional_with_caps_matches_the_documented_rule(case: tuple[Promotion, dict[str, Standing]]) -> None:
    # Same rule with caps: caps settled on the exact shares, then floors and one unit each.
    p, s = case
    extras = spec_extras(p, s)
    assume(extras is not None)
    normal, result = normal_amounts(p), plan(p, s)
    assert {c: result.amounts[c] - normal[c] for c in extras} == extras
    room_left = any(cap_of(p, c) is None or result.amounts[c] < cap_of(p, c) for c in extras)
    assert result.unallocated == (0 if room_left else sum(normal[c] for c in p.channels if standing_of(s, c) is F) - sum(extras.values()))


def test_capped_rounding_minimal_example() -> None:
    # 4 over 1:2:3 -> 0.67, 1.33, 2, but c has room for 1 only: c gets 1, and the other 3 go to a and b
    # 1:2 -> exactly 1 and 2. So a 2, b 4, c 4. An earlier plan.py floored first (0, 1, 2 -> c clipped
    # to 1), spread the 2 left by weight (0 and 1 to b) and the last unit to b too: a 1, b 5, c 4 -- a
    # got nothing of an exact share of 1, b 3 for an exact share of 2.
    p, s = CAPPED_EXAMPLE
    assert plan(p, s) == Allocation({"a": 2, "b": 4, "c": 4, "z": 0})


# With what is planned now (`current`), as the engine plans: money only flows back during a failback.

STEPS = st.lists(st.lists(STANDING, min_size=8, max_size=8), min_size=1, max_size=6)


def chained(p: Promotion, history: list[list[Standing | None]]) -> list[tuple[dict[str, Standing], Allocation]]:
    """Plan each step from the previous plan, as the engine does (a held plan keeps the last allocation)."""
    current, out, basis = normal_amounts(p), [], dict.fromkeys(p.channels, A)
    for picks in history:
        s = {c: x for c, x in zip(p.channels, picks) if x is not None}
        result = plan(p, s, current, basis)
        out.append((s, result))
        if not result.held:
            current, basis = result.amounts, s
    return out


@PROPERTY
@given(promotions(), st.lists(st.booleans(), min_size=8, max_size=8), st.data())
def test_a_staggered_failback_never_puts_more_on_a_channel_than_it_holds(p: Promotion, out: list[bool], data: st.DataObject) -> None:
    normal = normal_amounts(p)
    failed = {c for c, o in zip(p.channels, out) if o}
    assume(failed and len(failed) < len(p.channels))
    previous = {c: F if c in failed else A for c in p.channels}
    first = plan(p, previous, normal, dict.fromkeys(p.channels, A))
    current, unallocated = first.amounts, first.unallocated
    while failed:  # one or more channels come back at each step, the others stay as they are
        back = data.draw(st.sets(st.sampled_from(sorted(failed)), min_size=1))
        failed -= back
        s = {c: F if c in failed else A for c in p.channels}
        result = plan(p, s, current, previous)
        assert not result.held
        assert sum(result.amounts.values()) + result.unallocated == p.total
        # Nobody gets more than it held (or its normal amount), except what no one could take before (every
        # receiver was at its cap), which a channel coming back may now take.
        more = {c: a - max(current[c], normal[c]) for c, a in result.amounts.items() if a > max(current[c], normal[c])}
        assert sum(more.values()) <= unallocated, more
        for c, a in result.amounts.items():
            assert a == 0 if c in failed else a >= normal[c], c
            assert c not in back or a == normal[c] or unallocated, c
        assert plan(p, s, result.amounts, s) == result  # the same standings again: no new plan
        current, unallocated, previous = result.amounts, result.unallocated, s
    assert current == normal


@PROPERTY
@given(promotions(), STEPS)
def test_planning_from_the_current_plan_keeps_every_rule(p: Promotion, history: list[list[Standing | None]]) -> None:
    normal = normal_amounts(p)
    for s, result in chained(p, history):
        assert sum(result.amounts.values()) + result.unallocated == p.total and result.unallocated >= 0
        if result.held:
            continue
        for c, a in result.amounts.items():
            cap, standing = cap_of(p, c), standing_of(s, c)
            assert cap is None or a <= cap, c
            assert a == 0 if standing is F else a == normal[c] if standing is H else a >= normal[c], c
        if result.unallocated:  # money is left unplaced only when no ACTIVE channel can take more
            assert all(cap_of(p, c) == result.amounts[c] for c in p.channels if standing_of(s, c) is A)
        assert plan(p, s, result.amounts, s) == result  # the same standings again: the same plan
    last = chained(p, history)[-1][1]
    current = last.amounts if not last.held else normal
    assert plan(p, dict.fromkeys(p.channels, A), current) == Allocation(normal)  # failback is exact


# A failback step only when failed channels came back and nothing else changed; anything else is planned afresh.
HELD_BACK = shares(1000, caps={"c": 400}, a=50, c=25, d=25)
PRIORITY_HELD_BACK = shares(1000, policy="priority", priority=("c", "d"), a=50, c=25, d=25)


@pytest.mark.parametrize(
    ("p", "first", "then", "expected", "unallocated"),
    [
        # a fails while d is in maintenance: c takes up to its max, 350 is unplaced; d's window ends: d takes it
        (HELD_BACK, "FAH", "FAA", {"a": 0, "c": 400, "d": 600}, 0),
        # c (first in priority) holding while a fails: d takes it all; c back: c takes it, as a fresh plan does
        (PRIORITY_HELD_BACK, "FHA", "FAA", {"a": 0, "c": 750, "d": 250}, 0),
    ],
    ids=["capped-receiver-and-hold-ends", "priority-receiver-leaves-hold"],
)
@pytest.mark.parametrize("told", [True, False], ids=["previous-given", "previous-inferred"])
def test_a_channel_leaving_hold_during_a_failover_gets_its_part(p, first, then, expected, unallocated, told):
    before = standings_of(p, first)
    out = plan(p, before, normal_amounts(p), dict.fromkeys(p.channels, A))
    result = plan(p, standings_of(p, then), out.amounts, before if told else None)
    assert result == Allocation(expected, unallocated) == plan(p, standings_of(p, then))


def test_a_failback_step_places_what_the_receivers_no_longer_carry_on_a_channel_back_with_room():
    p = shares(400, caps={"c": 110, "d": 110}, a=25, b=25, c=25, d=25)
    out = plan(p, standings_of(p, "FFAA"), normal_amounts(p))
    assert out == Allocation({"a": 0, "b": 0, "c": 110, "d": 110}, 180)  # every receiver at its max
    back = plan(p, standings_of(p, "FAAA"), out.amounts, standings_of(p, "FFAA"))
    # b gets its 100 back and the 80 no one could take before; c and d keep their 10 each
    assert back == Allocation({"a": 0, "b": 180, "c": 110, "d": 110}, 0)


@pytest.mark.parametrize(
    ("current", "expected", "unallocated"),
    [
        ({"a": 0, "b": 1000}, {"a": 0, "b": 600}, 400),  # planned before b's max was lowered to 600
        ({"a": 0, "b": 1200}, {"a": 0, "b": 600}, 400),  # planned under a larger total
        ({"a": 0, "c": 1000}, {"a": 0, "b": 600}, 400),  # planned for other channels
        ({"a": 0, "b": 550}, {"a": 0, "b": 600}, 400),  # planned under a smaller total: the new money placed
    ],
    ids=["cap-lowered", "total-lowered", "channels-changed", "total-raised"],
)
def test_a_plan_made_under_another_config_is_not_a_failback_step(current, expected, unallocated):
    p = shares(1000, caps={"b": 600}, a=50, b=50)
    assert plan(p, standings_of(p, "FA"), current, standings_of(p, "FA")) == Allocation(expected, unallocated)
