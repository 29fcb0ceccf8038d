"""The records failover persistence reads and writes: stored state, plans, decisions, owner statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from monitor.failover.decision import Owner
from monitor.failover.reconcile import PlaceChange


class OwnerState(Protocol):
    """What is stored of a promotion's or notice's status (the engine's OwnerStatus)."""

    frozen: bool
    held: bool
    reason: str
    by: str
    since: float


class OwnerRecord(NamedTuple):
    """A stored owner status: frozen, held, why, by whom, since when."""

    frozen: bool
    held: bool
    reason: str
    by: str
    since: float


class PendingPlan(NamedTuple):
    """A stored plan that waits for approval."""

    id: int
    owner: Owner
    after: dict[str, int]


class RecentPlan(NamedTuple):
    """A plan carried out (or dry-run) recently: when, and the values before and after."""

    owner: Owner
    at: float
    before: dict[str, int]
    after: dict[str, int]


@dataclass(slots=True)
class StoredState:
    """Everything the engine keeps in memory, as stored."""

    gates: dict[str, bool]
    targets: dict[Owner, dict[str, int]]  # the planned value of each owner's channels
    owners: dict[Owner, OwnerRecord]
    pending: list[PendingPlan]  # in id order
    recent: list[RecentPlan]  # in time order
    last_reasons: dict[Owner, dict[str, Any]]  # each owner's latest plan's reason ({} without one)


@dataclass(frozen=True, slots=True)
class PlanWrite:
    """A plan to store; its actions are written unless it waits for approval."""

    owner: Owner
    mode: str
    status: str  # applied, dry_run or pending_approval
    before: dict[str, int]
    after: dict[str, int]
    reason: dict[str, Any]
    unallocated: int
    changes: tuple[PlaceChange, ...]


@dataclass(slots=True)
class DecisionWrite:
    """Everything one decision changes, written in one transaction."""

    at: float
    gates: Mapping[str, bool] = field(default_factory=dict)
    superseded: Sequence[int] = ()  # ids of pending plans no longer wanted
    plans: Sequence[PlanWrite] = ()
    owners: Mapping[Owner, OwnerState] = field(default_factory=dict)
    alert_rows: Sequence[dict[str, Any]] = ()


@dataclass(slots=True)
class DecisionWritten:
    """What write_decision stored: the new plans' ids, and the open incident of each plan's failed channels."""

    plan_ids: list[int]
    incidents: list[dict[str, int] | None]  # per plan; None: no failed channel of any plan had an open incident
