"""Failover persistence for the engine: its stored state, each decision in one transaction, approvals, owners.

The engine (monitor/failover/engine.py) decides in memory and hands what it decided to these functions:
gates, plans with the actions that carry them out, owners' statuses and the alert outbox rows of one decision
are written in ONE transaction (write_decision), so a decision is stored whole or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from monitor.failover.decision import Owner
from monitor.failover.reconcile import PlaceChange
from monitor.store.db import begin_write
from monitor.store.failover_records import (
    DecisionWrite,
    DecisionWritten,
    OwnerRecord,
    OwnerState,
    PendingPlan,
    PlanWrite,
    RecentPlan,
    StoredState,
)
from monitor.store.models import (
    AlertRow,
    FailoverActionRow,
    FailoverGateRow,
    FailoverOwnerRow,
    FailoverPlanRow,
    FailoverTargetRow,
    IncidentRow,
)
from monitor.store.upsert import upsert
from monitor.store.wakeups import OUTBOX, notify

KEY_NAMESPACE = uuid.UUID("6f1c1f3e-2a4b-4c39-9b6e-8c1d6a0f3b21")  # idempotency keys: uuid5 of plan, channel, op
CARRIED_OUT = ("applied", "approved", "dry_run")  # plan statuses whose moves count against the move limit


def load_state(engine: Engine, owners: Iterable[Owner], recent_since: float) -> StoredState:
    """Read the stored failover state; `recent_since`: the earliest carried-out plan to return."""
    p = FailoverPlanRow
    with engine.connect() as conn:
        gates = {r.channel: r.failed for r in conn.execute(select(FailoverGateRow))}
        targets: dict[Owner, dict[str, int]] = {}
        for r in conn.execute(select(FailoverTargetRow)):
            targets.setdefault((r.owner_kind, r.owner), {})[r.channel] = r.planned
        stored_owners = {
            (r.owner_kind, r.owner): OwnerRecord(r.frozen, r.held, r.reason, r.by, r.since) for r in conn.execute(select(FailoverOwnerRow))
        }
        pending = conn.execute(select(p).where(p.status == "pending_approval").order_by(p.id)).all()
        recent = conn.execute(
            select(p.owner_kind, p.owner, p.at, p.before, p.after).where(p.at >= recent_since, p.status.in_(CARRIED_OUT)).order_by(p.at)
        ).all()
        last_reasons = {}
        for owner in owners:
            stored = conn.execute(
                select(p.reason).where(p.owner_kind == owner[0], p.owner == owner[1]).order_by(p.id.desc()).limit(1)
            ).scalar()
            last_reasons[owner] = json.loads(stored) if stored else {}
    return StoredState(
        gates,
        targets,
        stored_owners,
        [PendingPlan(r.id, (r.owner_kind, r.owner), json.loads(r.after)) for r in pending],
        [RecentPlan((kind, name), at, json.loads(before), json.loads(after)) for kind, name, at, before, after in recent],
        last_reasons,
    )


def add_targets(engine: Engine, targets: Sequence[tuple[Owner, str, int]], orphans: Sequence[int], now: float) -> None:
    """Store the planned value of new (owner, channel) places and supersede plans that can never be carried out."""
    with begin_write(engine) as conn:
        if targets:
            upsert(
                conn,
                FailoverTargetRow.__table__,
                [
                    {"owner_kind": owner[0], "owner": owner[1], "channel": channel, "planned": value, "applied": None, "updated_at": now}
                    for owner, channel, value in targets
                ],
                ["owner_kind", "owner", "channel"],
            )
        if orphans:
            conn.execute(
                update(FailoverPlanRow)
                .where(FailoverPlanRow.id.in_(orphans))
                .values(status="superseded", decided_at=now, decided_by="monitor")
            )


def write_decision(engine: Engine, decision: DecisionWrite) -> DecisionWritten:
    """Write a decision in one transaction: alert rows, gates, superseded plans, plans with their actions, owners."""
    written = DecisionWritten([], [])
    with begin_write(engine) as conn:
        if decision.alert_rows or decision.plans:
            notify(conn, OUTBOX)  # relays in other processes (--role relay) look at once, when this commits
        if decision.alert_rows:
            conn.execute(insert(AlertRow), list(decision.alert_rows))
        if decision.gates:
            upsert(
                conn,
                FailoverGateRow.__table__,
                [{"channel": c, "failed": f, "changed_at": decision.at} for c, f in decision.gates.items()],
                ["channel"],
            )
        for plan_id in decision.superseded:
            conn.execute(
                update(FailoverPlanRow)
                .where(FailoverPlanRow.id == plan_id)
                .values(status="superseded", decided_at=decision.at, decided_by="monitor")
            )
        incidents = _open_incidents(conn, {c for d in decision.plans for c in d.reason.get("failed", [])})
        for draft in decision.plans:
            reason = draft.reason
            if incidents:
                found = {c: incidents[c] for c in reason.get("failed", []) if c in incidents}
                reason = {**reason, "incidents": found}
                written.incidents.append(found)
            else:
                written.incidents.append(None)
            written.plan_ids.append(_write_plan(conn, draft, reason, decision.at))
        if decision.owners:
            _write_owners(conn, decision.owners)
    return written


def _open_incidents(conn: Connection, failed: set[str]) -> dict[str, int]:
    """The open incident of each failed channel, for the audit (it may not be written yet when
    the hold-down is 0: the result writer flushes within a second; down_since then identifies it)."""
    if not failed:
        return {}
    rows = conn.execute(
        select(IncidentRow.channel, IncidentRow.id).where(IncidentRow.channel.in_(sorted(failed)), IncidentRow.ended_at.is_(None))
    )
    return {channel: int(i) for channel, i in rows}


def _write_plan(conn: Connection, draft: PlanWrite, reason: Mapping[str, Any], at: float) -> int:
    """Insert a plan row, and its actions unless it waits for approval; return its id."""
    plan_id = conn.execute(
        insert(FailoverPlanRow).values(
            at=at,
            owner_kind=draft.owner[0],
            owner=draft.owner[1],
            mode=draft.mode,
            status=draft.status,
            reason=json.dumps(reason, sort_keys=True),
            before=json.dumps(draft.before),
            after=json.dumps(draft.after),
            unallocated=draft.unallocated,
        )
    ).inserted_primary_key[0]
    if draft.status != "pending_approval":
        _write_actions(conn, plan_id, draft.owner, draft.changes, at, "dry_run" if draft.status == "dry_run" else "pending")
    return int(plan_id)


def _write_actions(conn: Connection, plan_id: int, owner: Owner, changes: Sequence[PlaceChange], at: float, status: str) -> None:
    """Insert a plan's actions (the outbox the relay drains) and move each place's planned value."""
    a, t = FailoverActionRow, FailoverTargetRow
    rows = []
    for change in changes:
        place = (a.owner_kind == owner[0], a.owner == owner[1], a.channel == change.channel)
        # Is the old value what the channel holds? Only if the last action for this place was applied (or there
        # was none: the config's allocation).
        last = conn.execute(select(a.status).where(*place).order_by(a.id.desc()).limit(1)).scalar()
        known = last in (None, "applied")
        for op, value, expect in change.ops:
            key = str(uuid.uuid5(KEY_NAMESPACE, f"{plan_id}:{owner[0]}:{owner[1]}:{change.channel}:{op}"))
            rows.append(
                {
                    "plan_id": plan_id,
                    "key": key,
                    "op": op,
                    "owner_kind": owner[0],
                    "owner": owner[1],
                    "channel": change.channel,
                    "actuator": change.actuator,
                    "target": change.target,
                    "value": value,
                    "expect": expect if known else None,
                    "text": change.text,
                    "status": status,
                    "attempts": 0,
                    "next_at": at,
                    "last_error": None,
                    "observed": None,
                    "response": "{}",
                    "created_at": at,
                    "applied_at": None,
                }
            )
        if status == "pending":
            # Values are absolute: an older action for the same place that has not gone out yet is moot.
            conn.execute(update(a).where(*place, a.status == "pending", a.plan_id != plan_id).values(status="superseded"))
        conn.execute(
            update(t)
            .where(t.owner_kind == owner[0], t.owner == owner[1], t.channel == change.channel)
            .values(planned=change.value, updated_at=at)
        )
    if rows:
        conn.execute(insert(a), rows)


def _write_owners(conn: Connection, owners: Mapping[Owner, OwnerState]) -> None:
    """Upsert the status of promotions and notices."""
    upsert(
        conn,
        FailoverOwnerRow.__table__,
        [
            {
                "owner_kind": o[0],
                "owner": o[1],
                "frozen": s.frozen,
                "held": s.held,
                "reason": s.reason[:500],
                "by": s.by[:100],
                "since": s.since,
            }
            for o, s in owners.items()
        ],
        ["owner_kind", "owner"],
    )


def write_owner(engine: Engine, owner: Owner, status: OwnerState) -> None:
    """Store one promotion's or notice's status (frozen by a person, say)."""
    with begin_write(engine) as conn:
        _write_owners(conn, {owner: status})


def plan_status(engine: Engine, plan_id: int) -> str | None:
    """A stored plan's status; None when there is no such plan."""
    with engine.connect() as conn:
        return conn.execute(select(FailoverPlanRow.status).where(FailoverPlanRow.id == plan_id)).scalar()


def reject_plan(engine: Engine, plan_id: int, by: str, now: float) -> None:
    """Mark a waiting plan rejected: nothing of it is carried out."""
    p = FailoverPlanRow
    with begin_write(engine) as conn:
        conn.execute(
            update(p).where(p.id == plan_id, p.status == "pending_approval").values(status="rejected", decided_by=by, decided_at=now)
        )


def approve_plan(
    engine: Engine, plan_id: int, owner: Owner, before: dict[str, int], changes: Sequence[PlaceChange], by: str, now: float
) -> dict[str, Any]:
    """Mark a waiting plan approved and write its actions, in one transaction; return the plan's reason."""
    p = FailoverPlanRow
    with begin_write(engine) as conn:
        reason = json.loads(conn.execute(select(p.reason).where(p.id == plan_id)).scalar() or "{}")
        conn.execute(update(p).where(p.id == plan_id).values(status="approved", decided_by=by, decided_at=now, before=json.dumps(before)))
        notify(conn, OUTBOX)  # its actions: relays in other processes send them at once
        _write_actions(conn, plan_id, owner, changes, now, "pending")
    return reason
