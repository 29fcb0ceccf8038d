"""The failover engine: the pure decision (monitor/failover/decide.py) with its memory loaded and recorded.

evaluate() is pure over the engine's memory and the channels' health: it returns a Decision (gate
changes, new plans, freezes) and changes nothing. commit() writes a Decision in ONE transaction
(monitor/store/failover.py holds the SQL): gates, plan rows, action rows (the outbox the relay drains) and
the new planned values, then updates memory. A crash before the commit loses the decision, and the next
evaluate makes it again; after the commit, the relay finds the actions. So there is no moment where an
action is decided but not stored, or stored twice.

Memory mirrors the tables (failover_gates, failover_targets, failover_owners, pending plans) and is
loaded at start, so evaluate() never reads the database; it runs on every state change and once a
second for the hold-down and failback timers. One outage, one plan: see monitor/failover/settle.py.

Approvals: a plan waiting for approval is superseded as soon as what the engine would propose now (computed
on every evaluate, also while the standings settle) is what is planned already, and approve() refuses a plan
that no longer matches what the engine would propose now.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from monitor.failover.config import Failover
from monitor.failover.decide import Decider
from monitor.failover.decision import (
    HOUR,
    MAX_PLAN_ID,
    MOVE_LIMIT,
    NOTICE,
    PROMOTION,
    Decision,
    NoSuchPlan,
    Owner,
    OwnerStatus,
    Pending,
    PlanDraft,
)
from monitor.failover.reconcile import changes
from monitor.store import failover as store

__all__ = [
    "HOUR",
    "MAX_PLAN_ID",
    "MOVE_LIMIT",
    "NOTICE",
    "PROMOTION",
    "Decision",
    "FailoverEngine",
    "NoSuchPlan",
    "Owner",
    "OwnerStatus",
    "Pending",
    "PlanDraft",
]


class FailoverEngine(Decider):
    """Decides and records failover; the relay (monitor/failover/relay.py) carries it out."""

    def __init__(self, failover: Failover, engine: Engine, names: Mapping[str, str] | None = None) -> None:
        super().__init__(failover, names)
        self.engine = engine

    # ------------------------------------------------------------------------------------- loading

    def load(self, now: float, *, write: bool = True) -> None:
        """Read the stored failover state; start new promotions and notices at their normal values.

        write=False (for status commands) keeps new ones in memory only.
        """
        stored = store.load_state(self.engine, self.owner_keys(), now - HOUR)
        self.gates = stored.gates
        self.owners = {owner: OwnerStatus(*record) for owner, record in stored.owners.items()}
        owners = set(self.owner_keys())
        self.pending = {p.owner: Pending(p.id, p.after) for p in stored.pending if p.owner in owners}
        # A promotion or notice no longer in the config: its request can never be carried out.
        orphans = [p.id for p in stored.pending if p.owner not in owners]
        self.moves = {}
        for owner, at, before, after in stored.recent:
            if owner[0] == PROMOTION and owner[1] in self.promotions and self.takes_away(owner, before, after):
                self.moves.setdefault(owner, deque()).append(at)
        missing = self._start_new(stored.targets)
        if (missing or orphans) and write:
            store.add_targets(self.engine, missing, orphans, now)
        # Only the channels still in the config: a channel removed from a promotion is left alone.
        self.planned = {o: {c: stored.targets[o][c] for c in self.normal(o)} for o in self.owner_keys()}
        self.basis, self.wanted = {}, {}
        self._load_episodes(stored.last_reasons)

    def _start_new(self, targets: dict[Owner, dict[str, int]]) -> list[tuple[Owner, str, int]]:
        """Add the normal value of every configured place not stored yet to `targets`; return those places."""
        missing: list[tuple[Owner, str, int]] = []
        for owner in self.owner_keys():
            have = targets.setdefault(owner, {})
            for channel, value in self.normal(owner).items():
                if channel not in have:
                    have[channel] = value
                    missing.append((owner, channel, value))
        return missing

    def _load_episodes(self, last_reasons: Mapping[Owner, dict[str, Any]]) -> None:
        self.episodes = {}
        for owner, reason in last_reasons.items():
            # Only while the owner is still away because of a failure of a channel it uses: a later plan (a config
            # change, say) must not be threaded under an outage that ended long ago.
            if reason.get("key") and set(reason.get("failed", ())) & self.uses(owner) and self.planned[owner] != self.normal(owner):
                self.episodes[owner] = reason["key"]

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
                self.moved(draft.owner, draft.before, draft.after, draft.reason.get("key", ""), decision.at, draft.basis)
        self.owners.update(decision.owners)
        return ids

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
            changes(self.catalog, draft.owner, draft.before, draft.after),
        )

    # ---------------------------------------------------------------------------- human decisions

    def approve(self, plan_id: int, by: str, now: float) -> PlanDraft:
        """Carry out a plan that waits for approval.

        Raise NoSuchPlan for an id never stored, LookupError for a plan not waiting for approval, or one that no
        longer matches what failover would propose now (the channels changed since it was proposed: it is
        superseded when they settle, and a new plan asks again if anything is still to move).
        """
        owner = self._waiting(plan_id)
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
        reason = store.approve_plan(self.engine, plan_id, owner, before, changes(self.catalog, owner, before, after), by, now)
        del self.pending[owner]
        self.moved(owner, before, after, reason.get("key", ""), now, basis or None)
        return PlanDraft(owner, "approve", "approved", before, after, {})

    def reject(self, plan_id: int, by: str, now: float) -> PlanDraft:
        """Turn down a plan that waits for approval: nothing moves, and the same move is not asked for again while
        failover still wants exactly it (NoSuchPlan, LookupError: as approve)."""
        owner = self._waiting(plan_id)
        after = self.pending[owner].after
        store.reject_plan(self.engine, plan_id, by, now)
        del self.pending[owner]
        self.rejected[owner] = dict(after)
        return PlanDraft(owner, "approve", "rejected", dict(self.planned[owner]), dict(after), {})

    def _waiting(self, plan_id: int) -> Owner:
        """The owner whose plan `plan_id` waits for approval (NoSuchPlan, LookupError: see approve)."""
        no_such = f"there is no plan {plan_id}; 'channel-monitor failover status' lists the plans and their ids"
        if not 0 < plan_id < MAX_PLAN_ID:
            raise NoSuchPlan(no_such)
        owner = next((o for o, p in self.pending.items() if p.plan_id == plan_id), None)
        if owner is not None:
            return owner
        status = store.plan_status(self.engine, plan_id)
        if status is None:
            raise NoSuchPlan(no_such)
        raise LookupError(
            f"plan {plan_id} is not waiting for approval: it is {status.replace('_', ' ')} (see 'channel-monitor failover status')"
        )

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
