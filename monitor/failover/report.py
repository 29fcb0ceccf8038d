"""What failover is doing, for the API, the status page and `channel-monitor failover status`."""

from __future__ import annotations

import json
from typing import Any

from monitor.failover.config import Notice, Promotion
from monitor.failover.engine import NOTICE, PROMOTION, FailoverEngine, OwnerStatus
from monitor.store.failover_actions import failover_history
from monitor.store.models import FailoverActionRow, FailoverPlanRow

ACTION_FIELDS = ("id", "op", "channel", "actuator", "value", "expect", "status", "attempts", "last_error", "observed", "key")


def failover_summary(failover: FailoverEngine, *, plans: int = 20) -> dict[str, Any]:
    """Every promotion and notice (normal, planned and applied values, status) and the latest plans with their actions."""
    history = failover_history(failover.engine, plans)
    actions = {plan_id: [_action(a) for a in rows] for plan_id, rows in history.actions.items()}
    timing = failover.config.timing
    return {
        "failed_over": sorted(c for c, failed in failover.gates.items() if failed),
        "timing": {
            "hold_down_seconds": timing.hold_down,
            "failback_after_seconds": timing.failback_after,
            "settle_seconds": timing.settle,
            "max_moves_per_hour": timing.max_moves_per_hour,
        },
        # Standings changed and the plan waits for them to settle until then (epoch seconds), else None.
        "settling_until": failover.settling_until(),
        "promotions": [_promotion(failover, p, history.applied.get((PROMOTION, p.id), {})) for p in failover.promotions.values()],
        "notices": [_notice(failover, n) for n in failover.notices.values()],
        "plans": [_plan(failover, p, actions.get(p.id, [])) for p in history.plans],
    }


def _action(a: FailoverActionRow) -> dict[str, Any]:
    return {
        **{name: getattr(a, name) for name in ACTION_FIELDS},
        "created_at": a.created_at,
        "applied_at": a.applied_at,
        "next_attempt_at": a.next_at if a.status == "pending" else None,
    }


def _status(failover: FailoverEngine, owner: tuple[str, str]) -> dict[str, Any]:
    s = failover.owners.get(owner, OwnerStatus())
    pending = failover.pending.get(owner)
    return {
        "frozen": s.frozen,
        "held": s.held,
        "reason": s.reason if (s.frozen or s.held) else "",
        "by": s.by if s.frozen else "",
        "pending_plan": pending.plan_id if pending else None,
        "pending_after": dict(pending.after) if pending else None,  # what that plan would apply
    }


def _promotion(failover: FailoverEngine, p: Promotion, applied: dict[str, int | None]) -> dict[str, Any]:
    owner = (PROMOTION, p.id)
    return {
        "id": p.id,
        "name": p.name,
        "unit": p.unit,
        "total": p.total,
        "policy": p.policy,
        "mode": p.mode,
        "normal": failover.normal(owner),
        "planned": dict(failover.planned.get(owner, {})),
        "applied": {c: applied.get(c) for c in p.channels},
        **_status(failover, owner),
    }


def _notice(failover: FailoverEngine, n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "when_down": n.when_down,
        "mode": n.mode,
        "text": n.text,
        "posted": {c: bool(failover.planned.get((NOTICE, n.id), {}).get(c)) for c in n.post_on},
        **_status(failover, (NOTICE, n.id)),
    }


def _plan(failover: FailoverEngine, p: FailoverPlanRow, actions: list[dict[str, Any]]) -> dict[str, Any]:
    promotion = failover.promotions.get(p.owner) if p.owner_kind == PROMOTION else None
    return {
        "id": p.id,
        "at": p.at,
        "kind": p.owner_kind,
        "owner": p.owner,
        "mode": p.mode,
        "status": p.status,
        "unit": promotion.unit if promotion else None,
        "before": json.loads(p.before),
        "after": json.loads(p.after),
        "unallocated": p.unallocated,
        "reason": json.loads(p.reason),
        "decided_by": p.decided_by,
        "decided_at": p.decided_at,
        "actions": actions,
    }
