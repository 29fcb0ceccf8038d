"""The failover decision, pure: what to change now, given every channel's health and the engine's memory.

Decider.evaluate() reads only memory (which mirrors the tables: gates, planned values, owners' statuses,
pending approvals, recent moves, episodes) and returns a Decision; it changes nothing stored. The engine
(monitor/failover/engine.py) loads the memory, commits each Decision and then calls moved() for its plans.

An owner away from its normal allocation is in an *episode*: every plan of the episode (out, re-plans, back)
carries the key of the outage that started it (one of the channels the owner uses), so its alerts go to that
incident's thread.

Moves counted against `max_moves_per_hour`: a plan that takes money away from a channel (leaves some channel
below both what it holds now and its normal amount: a new failure). Only such a plan is refused (the owner
frozen) when the limit is reached; a plan that only gives back (a failback step, the return to normal, a
receiver that stops receiving) never counts and is never refused, also once frozen by the limit (any other
freeze, by a person or after a conflict, stops every move).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from monitor.failover.config import Failover, Notice, Promotion
from monitor.failover.decision import HOUR, MOVE_LIMIT, NOTICE, PROMOTION, Decision, Owner, OwnerStatus, Pending, PlanDraft
from monitor.failover.gate import HealthView, standing
from monitor.failover.owners import Owners
from monitor.failover.plan import Allocation, Standing, placement_standings, plan
from monitor.failover.settle import Settling

HELD = "no healthy channel left to move it to; the last allocation is kept"


class Decider:
    """The engine's memory and the evaluation over it."""

    def __init__(self, failover: Failover, names: Mapping[str, str] | None = None) -> None:
        self.config = failover
        self.catalog = Owners(failover, names)
        self.promotions: dict[str, Promotion] = self.catalog.promotions
        self.notices: dict[str, Notice] = self.catalog.notices
        self.gates: dict[str, bool] = {}
        self.planned: dict[Owner, dict[str, int]] = {}
        self.owners: dict[Owner, OwnerStatus] = {}
        self.pending: dict[Owner, Pending] = {}
        # Moves a person rejected (Slack, the API, the CLI): not asked for again while failover still wants exactly
        # them; a different move, or the end of the need, asks (or forgets) anew.
        self.rejected: dict[Owner, dict[str, int]] = {}
        self.moves: dict[Owner, deque[float]] = {}  # when the owner's recent counted moves (money taken away) were
        self.episodes: dict[Owner, str] = {}  # owner away from normal -> key of the outage that began it
        self.standings: dict[str, Standing] = {}
        # The placement standings each owner's planned values were planned under (plan()'s `previous`), and what
        # the engine would propose for each owner now (at the last evaluate, settled or not: see approve()).
        self.basis: dict[Owner, dict[str, Standing]] = {}
        self.wanted: dict[Owner, tuple[dict[str, int], dict[str, Standing]]] = {}
        self.settling = Settling(failover.timing.settle)

    @property
    def enabled(self) -> bool:
        return bool(self.promotions or self.notices)

    def owner_keys(self) -> list[Owner]:
        return self.catalog.keys()

    def normal(self, owner: Owner) -> dict[str, int]:
        """What an owner holds with every channel healthy: the normal amounts, or no notice posted."""
        return self.catalog.normal(owner)

    def uses(self, owner: Owner) -> set[str]:
        """The channels an owner depends on (see Owners.uses)."""
        return self.catalog.uses(owner)

    def takes_away(self, owner: Owner, before: Mapping[str, int], after: Mapping[str, int]) -> bool:
        """Whether a plan counts as a move (see Owners.takes_away)."""
        return self.catalog.takes_away(owner, before, after)

    def describe(self, owner: Owner, before: Mapping[str, int], after: Mapping[str, int]) -> str:
        """A plan's changes for people: 'Allegro 1,000.00 PLN -> 1,400.00 PLN, ...' or 'post on Messenger'."""
        return self.catalog.describe(owner, before, after)

    def name(self, channel: str) -> str:
        return self.catalog.name(channel)

    def settling_until(self) -> float | None:
        """When the plans waiting for the standings to settle will be made (for status display)."""
        return self.settling.until()

    # ------------------------------------------------------------------------------------ deciding

    def evaluate(self, now: float, health: Mapping[str, HealthView], frozen: bool) -> Decision:
        """What to change now, given every channel's health; changes nothing (see the engine's commit)."""
        decision = Decision(now)
        if frozen or not self.enabled:
            return decision  # "is it us?": no failover at all while the monitor's own network is out or it is overloaded
        standings = self._standings(now, health, decision)
        settled = self.settling.settled(standings, now)
        failed = sorted(c for c, s in standings.items() if s is Standing.FAILED)
        reason: dict[str, Any] = {"failed": failed, "causes": {c: {**health[c].cause, "down_since": health[c].down_since} for c in failed}}
        outages = {c: health[c].down_since for c in failed if health[c].down_since is not None}
        for promotion in self.promotions.values():
            owner = (PROMOTION, promotion.id)
            if not _running(promotion, now):
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
            desired = self._notice_wanted(notice, standings)
            self.wanted[owner] = (desired, {})
            if settled:
                self._propose(owner, notice.mode, desired, 0, now, self._keyed(owner, reason, outages), decision, limit=None)
        # Plans wait until the standings hold still, but a request for approval that is moot already (nothing
        # would move now: the outage ended, nothing healthy is left) is withdrawn at once.
        decision.superseded.update(o for o in self.pending if o in self.wanted and self.wanted[o][0] == self.planned[o])
        return decision

    def _standings(self, now: float, health: Mapping[str, HealthView], decision: Decision) -> dict[str, Standing]:
        """Every channel's standing through its gate; the gates that change go into the decision."""
        timing = self.config.timing
        standings: dict[str, Standing] = {}
        for channel, view in health.items():
            was = self.gates.get(channel, False)
            standings[channel], failed = standing(was, view, now, timing.hold_down, timing.failback_after)
            if failed != was:
                decision.gates[channel] = failed
        self.standings = standings
        return standings

    def _notice_wanted(self, notice: Notice, standings: Mapping[str, Standing]) -> dict[str, int]:
        """Where a notice should be posted now (1) or not (0)."""
        owner = (NOTICE, notice.id)
        posted = standings.get(notice.when_down) is Standing.FAILED
        # Only where customers can read it: a channel that is up (not one inside its hold-down, whose
        # notice would be withdrawn a moment later); one that has it keeps it until it is failed over.
        return {
            c: int(
                posted and (standings.get(c) is Standing.ACTIVE or (standings.get(c) is Standing.HOLD and self.planned[owner].get(c) == 1))
            )
            for c in notice.post_on
        }

    def _keyed(self, owner: Owner, reason: dict[str, Any], outages: Mapping[str, float]) -> dict[str, Any]:
        """The reason with the key of the outage a new episode of this owner is about, for alert threading: the
        most recent outage among the failed channels the owner uses (none: no key)."""
        own = sorted((since, c) for c, since in outages.items() if c in self.uses(owner))
        return {**reason, "key": f"down:{own[-1][1]}:{int(own[-1][0])}"} if own else dict(reason)

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
                decision.events.append(("failover_held", owner, HELD, self.episodes.get(owner) or reason.get("key", "")))
        if allocation.held:
            return
        limit = self.config.moves_limit(promotion)
        basis = dict(placed)
        self._propose(owner, promotion.mode, allocation.amounts, allocation.unallocated, now, reason, decision, limit, basis)

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
            self.rejected.pop(owner, None)
            return  # (a request for approval is withdrawn in evaluate)
        # The episode's key (the outage that began it) for every plan of the episode, failback included.
        key = self.episodes.get(owner) or reason.get("key", "")
        reason = {**reason, "key": key} if key else {k: v for k, v in reason.items() if k != "key"}
        text = self.describe(owner, planned, desired)
        if mode == "approve":
            if pending is not None and pending.after == desired:
                return  # still waiting for the same approval
            if self.rejected.get(owner) == desired:
                return  # a person said no to exactly this move
            decision.superseded.add(owner)
            decision.plans.append(PlanDraft(owner, mode, "pending_approval", dict(planned), desired, reason, unallocated, basis))
            decision.events.append(("failover_approval_needed", owner, text, key))
            return
        if self._over_limit(owner, planned, desired, now, limit, status, key, decision):
            return
        state = "dry_run" if mode == "dry-run" else "applied"
        decision.plans.append(PlanDraft(owner, mode, state, dict(planned), desired, reason, unallocated, basis))
        decision.events.append(("failover_planned" if state == "applied" else "failover_dry_run", owner, text, key))

    def _over_limit(
        self,
        owner: Owner,
        planned: dict[str, int],
        desired: dict[str, int],
        now: float,
        limit: int | None,
        status: OwnerStatus,
        key: str,
        decision: Decision,
    ) -> bool:
        """Refuse (freeze the owner) a move that takes money away past the move limit; giving back never is."""
        recent = [t for t in self.moves.get(owner, ()) if t > now - HOUR]
        if limit is None or len(recent) < limit or not self.takes_away(owner, planned, desired):
            return False
        why = (
            f"{len(recent)} moves took money away from a channel in the last hour (limit {limit}); unfreeze it when the channels are stable"
        )
        decision.owners[owner] = OwnerStatus(True, status.held, why, MOVE_LIMIT, now)
        decision.events.append(("failover_frozen", owner, why, key))
        return True

    # ------------------------------------------------------------------------------------- memory

    def moved(
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


def _running(promotion: Promotion, now: float) -> bool:
    if promotion.schedule is None:
        return True
    start, end = promotion.schedule.bounds()
    return (start is None or now >= start) and (end is None or now < end)
