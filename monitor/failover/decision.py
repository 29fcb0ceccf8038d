"""What one failover decision is made of: owner statuses, plan drafts, the Decision itself. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.failover.plan import Standing

PROMOTION, NOTICE = "promotion", "notice"
HOUR = 3600.0
MAX_PLAN_ID = 2**63  # plan ids are signed 64-bit integers in every database
MOVE_LIMIT = "monitor (move limit)"  # who froze an owner that reached max_moves_per_hour
Owner = tuple[str, str]  # (owner_kind, owner id)


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
