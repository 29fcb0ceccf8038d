"""What failover is doing, for the API, the status page and `channel-monitor failover status`."""

from __future__ import annotations

import json
from typing import Any

from monitor.failover.engine import NOTICE, PROMOTION, FailoverEngine, OwnerStatus
from monitor.store.failover_actions import failover_history


def failover_summary(failover: FailoverEngine, *, plans: int = 20) -> dict[str, Any]:
    """Every promotion and notice (normal, planned and applied values, status) and the latest plans with their actions."""
    history = failover_history(failover.engine, plans)
    applied, recent = history.applied, history.plans
    actions = {
        plan_id: [
            {
                "id": a.id,
                "op": a.op,
                "channel": a.channel,
                "actuator": a.actuator,
                "value": a.value,
                "expect": a.expect,
                "status": a.status,
                "attempts": a.attempts,
                "last_error": a.last_error,
                "observed": a.observed,
                "key": a.key,
                "created_at": a.created_at,
                "applied_at": a.applied_at,
                "next_attempt_at": a.next_at if a.status == "pending" else None,
            }
            for a in rows
        ]
        for plan_id, rows in history.actions.items()
    }

    def status(owner: tuple[str, str]) -> dict[str, Any]:
        s = failover.owners.get(owner, OwnerStatus())
        pending = failover.pending.get(owner)
        return {
            "frozen": s.frozen,
            "held": s.held,
            "reason": s.reason if (s.frozen or s.held) else "",
            "by": s.by if s.frozen else "",
            "pending_plan": pending.plan_id if pending else None,
        }

    promotions = []
    for p in failover.promotions.values():
        owner = (PROMOTION, p.id)
        applied_values = applied.get(owner, {})
        promotions.append(
            {
                "id": p.id,
                "name": p.name,
                "unit": p.unit,
                "total": p.total,
                "policy": p.policy,
                "mode": p.mode,
                "normal": failover.normal(owner),
                "planned": dict(failover.planned.get(owner, {})),
                "applied": {c: applied_values.get(c) for c in p.channels},
                **status(owner),
            }
        )
    notices = [
        {
            "id": n.id,
            "when_down": n.when_down,
            "mode": n.mode,
            "text": n.text,
            "posted": {c: bool(failover.planned.get((NOTICE, n.id), {}).get(c)) for c in n.post_on},
            **status((NOTICE, n.id)),
        }
        for n in failover.notices.values()
    ]
    return {
        "failed_over": sorted(c for c, failed in failover.gates.items() if failed),
        "timing": {
            "hold_down_seconds": failover.config.timing.hold_down,
            "failback_after_seconds": failover.config.timing.failback_after,
            "settle_seconds": failover.config.timing.settle,
            "max_moves_per_hour": failover.config.timing.max_moves_per_hour,
        },
        # Standings changed and the plan waits for them to settle until then (epoch seconds), else None.
        "settling_until": failover.settling_until(),
        "promotions": promotions,
        "notices": notices,
        "plans": [
            {
                "id": p.id,
                "at": p.at,
                "kind": p.owner_kind,
                "owner": p.owner,
                "mode": p.mode,
                "status": p.status,
                "unit": failover.promotions[p.owner].unit if p.owner_kind == PROMOTION and p.owner in failover.promotions else None,
                "before": json.loads(p.before),
                "after": json.loads(p.after),
                "unallocated": p.unallocated,
                "reason": json.loads(p.reason),
                "decided_by": p.decided_by,
                "decided_at": p.decided_at,
                "actions": actions.get(p.id, []),
            }
            for p in recent
        ],
    }
