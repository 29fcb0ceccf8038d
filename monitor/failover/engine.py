"""The reconciler: desired allocation (plan) versus what was last planned, turned into stored actions.

evaluate() is pure over the engine's memory and the channels' health: it returns a Decision (gate
changes, new plans, freezes) and changes nothing. commit() writes a Decision in ONE transaction
(monitor/store/failover.py holds the SQL): gates, plan rows, action rows (the outbox the relay drains) and
the new planned values, then updates memory. A crash before the commit loses the decision, and the next
evaluate makes it again; after the commit, the relay finds the actions. So there is no moment where an
action is decided but not stored, or stored twice.

Memory mirrors the tables (failover_gates, failover_targets, failover_owners, pending plans) and is
loaded at start, so evaluate() never reads the database; it runs on every state change and once a
second for the hold-down and failback timers.

One outage, one plan: channels that fail together cross their hold-downs seconds apart, so plans wait
until the channels' standings have held still for `timing.settle` (at most SETTLE_MAX_FACTOR settle
windows after the first change). An owner away from its normal allocation is in an *episode*: every plan
of the episode (out, re-plans, back) carries the key of the outage that started it (one of the channels the
owner uses), so its alerts go to that incident's thread.

Moves counted against `max_moves_per_hour`: a plan that takes money away from a channel (leaves some channel
below both what it holds now and its normal amount: a new failure). Only such a plan is refused (the owner
frozen) when the limit is reached; a plan that only gives back (a failback step, the return to normal, a
receiver that stops receiving) never counts and is never refused, also once frozen by the limit (any other
freeze, by a person or after a conflict, stops every move).

Approvals: a plan waiting for approval is superseded as soon as what the engine would propose now (computed
on every evaluate, also while the standings settle) is what is planned already, and approve() refuses a plan
that no longer matches what the engine would propose now.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from monitor.core.money import money
from monitor.failover.config import SETTLE_MAX_FACTOR, Failover, Notice, Promotion
from monitor.failover.gate import HealthView, standing
from monitor.failover.plan import Allocation, Standing, normal_amounts, placement_standings, plan
from monitor.store import failover as store
from monitor.store.failover import Owner

PROMOTION, NOTICE = "promotion", "notice"
HOUR = 3600.0
MAX_PLAN_ID = 2**63  # plan ids are signed 64-bit integers in every database
MOVE_LIMIT = "monitor (move limit)"  # who froze an owner that reached max_moves_per_hour


class NoSuchPlan(LookupError):
    """approve() of a plan id that was never stored (the admin API answers 404)."""


@dataclass(slots=True)
class OwnerStatus:
    frozen: bool = False
    held: bool = False
    reason: str = ""
    by: str = ""
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class PlanDraft:
    owner: Owner
    mode: str
    status: str  # applied, dry_run or pending_approval
    before: dict[str, int]
    after: dict[str, int]
    reason: dict[str, Any]
    unallocated: int = 0
    basis: dict[str, Standing] | None = None  # the placement standings it was planned under (promotions)


@dataclass(slots=True)
class Decision:
    at: float
    gates: dict[str, bool] = field(default_factory=dict)  # channels whose gate changed
    plans: list[PlanDraft] = field(default_factory=list)
    owners: dict[Owner, OwnerStatus] = field(default_factory=dict)  # owners whose status changed
    superseded: set[Owner] = field(default_factory=set)  # pending approvals no longer wanted
    # (event, owner, detail, incident key) to alert; the key threads it under the outage's message
    events: list[tuple[str, Owner, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.gates or self.plans or self.owners or self.superseded)


@dataclass(frozen=True, slots=True)
class Pending:
    plan_id: int
    after: dict[str, int]


class FailoverEngine:
    """Decides and records failover; the relay (monitor/failover/relay.py) carries it out."""

    def __init__(self, failover: Failover, engine: Engine, names: Mapping[str, str] | None = None) -> None:
        self.config = failover
        self.engine = engine
        self.names = dict(names or {})  # channel id -> name, for texts people read
        self.promotions: dict[str, Promotion] = {p.id: p for p in failover.promotions}
        self.notices: dict[str, Notice] = {n.id: n for n in failover.notices}
        self.actuator_of: dict[str, str] = {}
        self.gates: dict[str, bool] = {}
        self.planned: dict[Owner, dict[str, int]] = {}
        self.owners: dict[Owner, OwnerStatus] = {}
        self.pending: dict[Owner, Pending] = {}
        self.moves: dict[Owner, deque[float]] = {}  # when the owner's recent counted moves (money taken away) were
        self.episodes: dict[Owner, str] = {}  # owner away from normal -> key of the outage that began it
        self.standings: dict[str, Standing] = {}
        # The placement standings each owner's planned values were planned under (plan()'s `previous`), and what
        # the engine would propose for each owner now (at the last evaluate, settled or not: see approve()).
        self.basis: dict[Owner, dict[str, Standing]] = {}
        self.wanted: dict[Owner, tuple[dict[str, int], dict[str, Standing]]] = {}
        # Settling: the standings last seen, when they last changed, and the first change not yet planned.
        self._seen: dict[str, Standing] = {}
        self._changed_at = 0.0
        self._first_change: float | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.promotions or self.notices)

    def owner_keys(self) -> list[Owner]:
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

    # ------------------------------------------------------------------------------------- loading

    def load(self, now: float, *, write: bool = True) -> None:
        """Read the stored failover state; start new promotions and notices at their normal values.

        write=False (for status commands) keeps new ones in memory only.
        """
        stored = store.load_state(self.engine, self.owner_keys(), now - HOUR)
        self.gates = stored.gates
        targets = stored.targets
        self.owners = {owner: OwnerStatus(*record) for owner, record in stored.owners.items()}
        owners = set(self.owner_keys())
        self.pending = {p.owner: Pending(p.id, p.after) for p in stored.pending if p.owner in owners}
        # A promotion or notice no longer in the config: its request can never be carried out.
        orphans = [p.id for p in stored.pending if p.owner not in owners]
        self.moves = {}
        for owner, at, before, after in stored.recent:
            if owner[0] == PROMOTION and owner[1] in self.promotions and self.takes_away(owner, before, after):
                self.moves.setdefault(owner, deque()).append(at)
        missing: list[tuple[Owner, str, int]] = []
        for owner in self.owner_keys():
            have = targets.setdefault(owner, {})
            for channel, value in self.normal(owner).items():
                if channel not in have:
                    have[channel] = value
                    missing.append((owner, channel, value))
        if (missing or orphans) and write:
            store.add_targets(self.engine, missing, orphans, now)
        # Only the channels still in the config: a channel removed from a promotion is left alone.
        self.planned = {o: {c: targets[o][c] for c in self.normal(o)} for o in self.owner_keys()}
        self.episodes = {}
        self.basis, self.wanted = {}, {}
        for owner, reason in stored.last_reasons.items():
            # Only while the owner is still away because of a failure of a channel it uses: a later plan (a config
            # change, say) must not be threaded under an outage that ended long ago.
            if reason.get("key") and set(reason.get("failed", ())) & self.uses(owner) and self.planned[owner] != self.normal(owner):
                self.episodes[owner] = reason["key"]

    # ------------------------------------------------------------------------------------ deciding

    def evaluate(self, now: float, health: Mapping[str, HealthView], frozen: bool) -> Decision:
        """What to change now, given every channel's health; changes nothing (see commit)."""
        decision = Decision(now)
        if frozen or not self.enabled:
            return decision  # "is it us?": no failover at all while the monitor's own network is out
        timing = self.config.timing
        standings: dict[str, Standing] = {}
        for channel, view in health.items():
            was = self.gates.get(channel, False)
            standings[channel], failed = standing(was, view, now, timing.hold_down, timing.failback_after)
            if failed != was:
                decision.gates[channel] = failed
        self.standings = standings
        settled = self._settled(standings, now)
        failed = sorted(c for c, s in standings.items() if s is Standing.FAILED)
        reason: dict[str, Any] = {"failed": failed, "causes": {c: {**health[c].cause, "down_since": health[c].down_since} for c in failed}}
        outages = {c: health[c].down_since for c in failed if health[c].down_since is not None}
        for promotion in self.promotions.values():
            owner = (PROMOTION, promotion.id)
            if not self._running(promotion, now):
                self.wanted.pop(owner, None)
                continue
            placed = placement_standings(promotion, standings)
            allocation = plan(promotion, placed, self.planned[owner], self.basis.get(owner))
            # Held: nothing would move (the last allocation is kept).
            self.wanted[owner] = (dict(self.planned[owner]) if allocation.held else allocation.amounts, placed)
            if settled:
                self._decide_promotion(promotion, placed, allocation, standings, now, self._keyed(owner, reason, outages), decision)
        for notice in self.notices.values():
            owner = (NOTICE, notice.id)
            posted = standings.get(notice.when_down) is Standing.FAILED
            # Only where customers can read it: a channel that is up (not one inside its hold-down, whose
            # notice would be withdrawn a moment later); one that has it keeps it until it is failed over.
            desired = {
                c: int(
                    posted
                    and (standings.get(c) is Standing.ACTIVE or (standings.get(c) is Standing.HOLD and self.planned[owner].get(c) == 1))
                )
                for c in notice.post_on
            }
            self.wanted[owner] = (desired, {})
            if settled:
                self._propose(owner, notice.mode, desired, 0, now, self._keyed(owner, reason, outages), decision, limit=None)
        # Plans wait until the standings hold still, but a request for approval that is moot already (nothing
        # would move now: the outage ended, nothing healthy is left) is withdrawn at once.
        decision.superseded.update(o for o in self.pending if o in self.wanted and self.wanted[o][0] == self.planned[o])
        return decision

    def _keyed(self, owner: Owner, reason: dict[str, Any], outages: Mapping[str, float]) -> dict[str, Any]:
        """The reason with the key of the outage a new episode of this owner is about, for alert threading: the
        most recent outage among the failed channels the owner uses (none: no key)."""
        own = sorted((since, c) for c, since in outages.items() if c in self.uses(owner))
        return {**reason, "key": f"down:{own[-1][1]}:{int(own[-1][0])}"} if own else dict(reason)

    def _settled(self, standings: dict[str, Standing], now: float) -> bool:
        """Whether plans may be made now: the standings have not changed for `settle`, or the first change
        not yet planned is SETTLE_MAX_FACTOR settle windows old (a channel that keeps changing cannot
        postpone the others' failover for ever)."""
        if standings != self._seen:
            self._seen = dict(standings)
            self._changed_at = now
            if self._first_change is None:
                self._first_change = now
        if self._first_change is None:
            return True
        settle = self.config.timing.settle
        if now - self._changed_at >= settle or now - self._first_change >= SETTLE_MAX_FACTOR * settle:
            self._first_change = None
            return True
        return False

    def settling_until(self) -> float | None:
        """When the plans waiting for the standings to settle will be made (for status display)."""
        if self._first_change is None:
            return None
        settle = self.config.timing.settle
        return min(self._changed_at + settle, self._first_change + SETTLE_MAX_FACTOR * settle)

    @staticmethod
    def _running(promotion: Promotion, now: float) -> bool:
        if promotion.schedule is None:
            return True
        start, end = promotion.schedule.bounds()
        return (start is None or now >= start) and (end is None or now < end)

    def _decide_promotion(
        self,
        promotion: Promotion,
        placed: Mapping[str, Standing],
        allocation: Allocation,
        standings: Mapping[str, Standing],
        now: float,
        reason: dict[str, Any],
        decision: Decision,
    ) -> None:
        owner = (PROMOTION, promotion.id)
        status = self.owners.get(owner, OwnerStatus())
        via = {
            c: p.lands_on
            for c, p in promotion.channels.items()
            if p.lands_on and placed[c] is Standing.FAILED and standings.get(c) is not Standing.FAILED
        }
        if via:  # failed over because the channel its buyers land on is
            reason = {**reason, "lands_on": via}
        if allocation.held != status.held and not status.frozen:
            decision.owners[owner] = OwnerStatus(status.frozen, allocation.held, status.reason, status.by, now)
            if allocation.held:
                decision.events.append(
                    (
                        "failover_held",
                        owner,
                        "no healthy channel left to move it to; the last allocation is kept",
                        self.episodes.get(owner) or reason.get("key", ""),
                    )
                )
        if allocation.held:
            return
        self._propose(
            owner,
            promotion.mode,
            allocation.amounts,
            allocation.unallocated,
            now,
            reason,
            decision,
            limit=self.config.moves_limit(promotion),
            basis=dict(placed),
        )

    def _propose(
        self,
        owner: Owner,
        mode: str,
        desired: dict[str, int],
        unallocated: int,
        now: float,
        reason: dict[str, Any],
        decision: Decision,
        limit: int | None,
        basis: dict[str, Standing] | None = None,
    ) -> None:
        status = self.owners.get(owner, OwnerStatus())
        planned = self.planned[owner]
        # Frozen by the move limit: it still gives back (never kept away). Any other freeze (a person's, a conflict's):
        # nothing moves.
        if status.frozen and (status.by != MOVE_LIMIT or self.takes_away(owner, planned, desired)):
            return
        pending = self.pending.get(owner)
        if desired == planned:
            return  # (a request for approval is withdrawn in evaluate)
        # The episode's key (the outage that began it) for every plan of the episode, failback included.
        key = self.episodes.get(owner) or reason.get("key", "")
        reason = {**reason, "key": key} if key else {k: v for k, v in reason.items() if k != "key"}
        text = self.describe(owner, planned, desired)
        if mode == "approve":
            if pending is not None and pending.after == desired:
                return  # still waiting for the same approval
            decision.superseded.add(owner)
            decision.plans.append(PlanDraft(owner, mode, "pending_approval", dict(planned), desired, reason, unallocated, basis))
            decision.events.append(("failover_approval_needed", owner, text, key))
            return
        recent = [t for t in self.moves.get(owner, ()) if t > now - HOUR]
        if limit is not None and len(recent) >= limit and self.takes_away(owner, planned, desired):
            # Only a move that takes money away is refused: giving back (the way to normal) never is.
            decision.owners[owner] = OwnerStatus(
                True,
                status.held,
                f"{len(recent)} moves took money away from a "
                f"channel in the last hour (limit {limit}); unfreeze it when the "
                "channels are stable",
                MOVE_LIMIT,
                now,
            )
            decision.events.append(("failover_frozen", owner, decision.owners[owner].reason, key))
            return
        state = "dry_run" if mode == "dry-run" else "applied"
        decision.plans.append(PlanDraft(owner, mode, state, dict(planned), desired, reason, unallocated, basis))
        decision.events.append(("failover_planned" if state == "applied" else "failover_dry_run", owner, text, key))

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

    # ----------------------------------------------------------------------------------- recording

    def commit(self, decision: Decision, alert_rows: Sequence[dict[str, Any]] = ()) -> list[int]:
        """Write a decision in one transaction, with the outbox rows of the alerts it causes, then take it
        into memory; return the new plans' ids."""
        written = store.write_decision(
            self.engine,
            store.DecisionWrite(
                decision.at,
                decision.gates,
                [self.pending[o].plan_id for o in decision.superseded if o in self.pending],
                [self._plan_write(d) for d in decision.plans],
                decision.owners,
                alert_rows,
            ),
        )
        ids = written.plan_ids
        for draft, incidents in zip(decision.plans, written.incidents, strict=True):
            if incidents is not None:
                draft.reason["incidents"] = incidents
        # Committed: now memory may follow.
        self.gates.update(decision.gates)
        for owner in decision.superseded:
            self.pending.pop(owner, None)
        for draft, plan_id in zip(decision.plans, ids, strict=True):
            if draft.status == "pending_approval":
                self.pending[draft.owner] = Pending(plan_id, draft.after)
            else:
                self._moved(draft.owner, draft.before, draft.after, draft.reason.get("key", ""), decision.at, draft.basis)
        self.owners.update(decision.owners)
        return ids

    def _moved(
        self, owner: Owner, before: dict[str, int], after: dict[str, int], key: str, at: float, basis: dict[str, Standing] | None
    ) -> None:
        """Take a plan carried out (or dry-run) into memory: the planned values, their basis, moves and the episode."""
        self.planned[owner] = dict(after)
        if basis is not None:
            self.basis[owner] = basis
        if self.takes_away(owner, before, after):
            self.moves.setdefault(owner, deque()).append(at)
        if after == self.normal(owner):
            self.episodes.pop(owner, None)
        elif key and owner not in self.episodes:
            self.episodes[owner] = key

    def _plan_write(self, draft: PlanDraft) -> store.PlanWrite:
        """A plan as the store writes it, with the actions that carry it out."""
        return store.PlanWrite(
            draft.owner,
            draft.mode,
            draft.status,
            draft.before,
            draft.after,
            draft.reason,
            draft.unallocated,
            self._changes(draft.owner, draft.before, draft.after),
        )

    def _changes(self, owner: Owner, before: Mapping[str, int], after: Mapping[str, int]) -> tuple[store.PlaceChange, ...]:
        """The places a plan moves and the actions that move each (expecting `before` where it is known)."""
        changes = []
        for channel, value in after.items():
            old = before.get(channel, 0)
            if value == old:
                continue
            actuator, target, text = self._placement(owner, channel)
            changes.append(
                store.PlaceChange(channel, value, actuator, target, text if owner[0] == NOTICE else None, tuple(_ops(owner[0], old, value)))
            )
        return tuple(changes)

    def _placement(self, owner: Owner, channel: str) -> tuple[str, str, str | None]:
        kind, name = owner
        if kind == PROMOTION:
            placement = self.promotions[name].channels[channel]
            return placement.actuator, placement.target, None
        notice = self.notices[name]
        return notice.actuator, notice.target, notice.text

    # ---------------------------------------------------------------------------- human decisions

    def approve(self, plan_id: int, by: str, now: float) -> PlanDraft:
        """Carry out a plan that waits for approval.

        Raise NoSuchPlan for an id never stored, LookupError for a plan not waiting for approval, or one that no
        longer matches what failover would propose now (the channels changed since it was proposed: it is
        superseded when they settle, and a new plan asks again if anything is still to move).
        """
        no_such = f"there is no plan {plan_id}; 'channel-monitor failover status' lists the plans and their ids"
        if not 0 < plan_id < MAX_PLAN_ID:
            raise NoSuchPlan(no_such)
        owner = next((o for o, p in self.pending.items() if p.plan_id == plan_id), None)
        if owner is None:
            status = store.plan_status(self.engine, plan_id)
            if status is None:
                raise NoSuchPlan(no_such)
            raise LookupError(
                f"plan {plan_id} is not waiting for approval: it is {status.replace('_', ' ')} (see 'channel-monitor failover status')"
            )
        after = self.pending[owner].after
        before = dict(self.planned[owner])
        # What the engine would propose now (unknown only before its first evaluate: then the plan stands).
        wanted, basis = self.wanted.get(owner, (after, None))
        if wanted != after:
            now_text = self.describe(owner, before, wanted) or "nothing to move"
            raise LookupError(
                f"plan {plan_id} no longer matches what failover would do now ({now_text}): the "
                "channels changed since it was proposed; once they settle it is withdrawn, and a new "
                "plan asks for approval if anything is still to move (see 'channel-monitor failover status')"
            )
        reason = store.approve_plan(self.engine, plan_id, owner, before, self._changes(owner, before, after), by, now)
        del self.pending[owner]
        self._moved(owner, before, after, reason.get("key", ""), now, basis or None)
        return PlanDraft(owner, "approve", "approved", before, after, {})

    def set_frozen(self, owner: Owner, frozen: bool, by: str, reason: str, now: float) -> None:
        """Freeze (no more moves) or unfreeze a promotion or notice; unfreezing also forgets past moves."""
        if owner not in self.planned:
            raise LookupError(f"no {owner[0]} {owner[1]!r}; see 'channel-monitor failover status'")
        current = self.owners.get(owner, OwnerStatus())
        status = OwnerStatus(frozen, current.held, reason, by, now)
        store.write_owner(self.engine, owner, status)
        self.owners[owner] = status
        if not frozen:
            self.moves.pop(owner, None)  # a person looked at it: the move limit starts afresh


def _ops(kind: str, old: int, new: int, known: bool = True) -> list[tuple[str, int | None, int | None]]:
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


def owner_label(owner: Owner) -> str:
    return f"{owner[0]} {owner[1]}"


OutcomeHook = Callable[[str, Owner, str], None]
