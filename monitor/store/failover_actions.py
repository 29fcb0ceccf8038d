"""Failover actions once stored: the relay's claims and outcomes, and the reads of the failover audit and gauges."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine

from monitor.store.db import begin_write
from monitor.store.models import FailoverActionRow, FailoverPlanRow, FailoverTargetRow

Place = tuple[str, str, str]  # (owner kind, owner, channel)


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What to store of one attempt at an action."""

    status: str  # applied, pending (a retry), failed or conflict
    attempts: int
    last_error: str | None
    observed: int | None
    response: str  # JSON
    next_at: float | None = None  # a retry: when it is due
    applied_at: float | None = None  # applied: when


@dataclass(frozen=True, slots=True)
class FailoverHistory:
    """The stored part of the failover audit: applied values, the latest plans and their actions."""

    applied: dict[tuple[str, str], dict[str, int | None]]  # owner -> channel -> applied value (None: not yet)
    plans: list[Any]  # plan rows, newest first
    actions: dict[int, list[Any]]  # plan id -> its action rows in id order


def release_sending(engine: Engine, holder: str, now: float) -> None:
    """Rows left "sending" by a crash may have reached the receiver: count that attempt, send again. Released:
    the rows `holder` itself claimed (it is starting again, or its round failed) and any relay's claims whose
    lease ran out (that relay died); another live relay's claims are left alone."""
    a = FailoverActionRow
    with begin_write(engine) as conn:
        conn.execute(
            update(a)
            .where(a.status == "sending", or_(a.claimed_by == holder, a.claimed_by.is_(None), a.claim_until < now))
            .values(**_resend("the service stopped"))
        )


def _resend(why: str) -> dict[str, Any]:
    """An action taken back from "sending": that attempt counts, and it goes again with the same key."""
    a = FailoverActionRow
    return {
        "claimed_by": None,
        "claim_until": None,
        "status": "pending",
        "attempts": a.attempts + 1,
        "last_error": f"interrupted while sending ({why}); sent again with the same key",
    }


def open_actions(engine: Engine) -> list[Any]:
    """Every pending or sending action row, in id order."""
    a = FailoverActionRow
    with engine.connect() as conn:
        return list(conn.execute(select(a).where(a.status.in_(("pending", "sending"))).order_by(a.id)).all())


def plan_reasons(engine: Engine, plan_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The stored reason of each plan."""
    with engine.connect() as conn:
        return {
            plan_id: json.loads(reason)
            for plan_id, reason in conn.execute(select(FailoverPlanRow.id, FailoverPlanRow.reason).where(FailoverPlanRow.id.in_(plan_ids)))
        }


def claim_actions(engine: Engine, groups: Iterable[Sequence[Any]], holder: str, until: float) -> list[list[FailoverActionRow]]:
    """Claim (pending -> sending, compare-and-set) each group's rows in order, up to the first another took;
    `holder` holds them until `until` (then another relay may take them over, as after a crash)."""
    a = FailoverActionRow
    claimed: list[list[FailoverActionRow]] = []
    with begin_write(engine) as conn:
        for rows in groups:
            mine = []
            for r in rows:
                claim = update(a).where(a.id == r.id, a.status == "pending").values(status="sending", claimed_by=holder, claim_until=until)
                if conn.execute(claim).rowcount:
                    mine.append(FailoverActionRow.model_validate(r._mapping))
                else:
                    break
            if mine:
                claimed.append(mine)
    return claimed


def release_others(engine: Engine, prefix: str, holder: str) -> int:
    """A new leading decider takes over the actions earlier deciders (holders starting with `prefix`) were
    sending: they may have reached the receiver, so each counts as an attempt and is sent again with its key.
    Safe because only the leader decides and the old one is fenced; how many rows were released."""
    a = FailoverActionRow
    with begin_write(engine) as conn:
        return conn.execute(
            update(a)
            .where(a.status == "sending", a.claimed_by.startswith(prefix, autoescape=True), a.claimed_by != holder)
            .values(**_resend("the decider was replaced"))
        ).rowcount


def renew_claims(engine: Engine, holder: str, until: float) -> None:
    """Extend `holder`'s claims on the rows it is still sending: a relay alive keeps them, a dead one's run out."""
    a = FailoverActionRow
    with begin_write(engine) as conn:
        conn.execute(update(a).where(a.status == "sending", a.claimed_by == holder).values(claim_until=until))


def record_outcome(
    engine: Engine, action_id: int, outcome: ActionOutcome, release: Sequence[int], applied: tuple[Place, int | None] | None, now: float
) -> None:
    """Store an attempt's outcome, give the claimed rows behind it back, and an applied place's value."""
    a, t = FailoverActionRow, FailoverTargetRow
    values: dict[str, Any] = {
        "attempts": outcome.attempts,
        "last_error": outcome.last_error,
        "observed": outcome.observed,
        "response": outcome.response,
        "status": outcome.status,
    }
    if outcome.applied_at is not None:
        values["applied_at"] = outcome.applied_at
    if outcome.next_at is not None:
        values["next_at"] = outcome.next_at
    with begin_write(engine) as conn:
        # Only if still ours: a newer plan may have superseded it meanwhile (then it stays superseded).
        conn.execute(update(a).where(a.id == action_id, a.status == "sending").values(**values, claimed_by=None, claim_until=None))
        if release:
            conn.execute(
                update(a).where(a.id.in_(list(release)), a.status == "sending").values(status="pending", claimed_by=None, claim_until=None)
            )
        if applied is not None:
            (kind, owner, channel), value = applied
            conn.execute(
                update(t).where(t.owner_kind == kind, t.owner == owner, t.channel == channel).values(applied=value, updated_at=now)
            )


def applied_values(engine: Engine) -> dict[Place, int | None]:
    """The value last applied to each place (None: nothing applied yet)."""
    with engine.connect() as conn:
        return {(r.owner_kind, r.owner, r.channel): r.applied for r in conn.execute(select(FailoverTargetRow))}


def failover_history(engine: Engine, plans: int) -> FailoverHistory:
    """Applied values, the latest `plans` plans and their actions, read in one go."""
    with engine.connect() as conn:
        applied: dict[tuple[str, str], dict[str, int | None]] = {}
        for r in conn.execute(select(FailoverTargetRow)):
            applied.setdefault((r.owner_kind, r.owner), {})[r.channel] = r.applied
        recent = list(conn.execute(select(FailoverPlanRow).order_by(FailoverPlanRow.id.desc()).limit(plans)).all())
        ids = [p.id for p in recent]
        actions: dict[int, list[Any]] = {}
        if ids:
            for a in conn.execute(select(FailoverActionRow).where(FailoverActionRow.plan_id.in_(ids)).order_by(FailoverActionRow.id)):
                actions.setdefault(a.plan_id, []).append(a)
    return FailoverHistory(applied, recent, actions)


def unrehearsed(engine: Engine, actuators: Sequence[str], limit: int = 50) -> list[FailoverActionRow]:
    """Dry-run actions of these actuators not asked about yet (their last_error is still empty), oldest first."""
    a = FailoverActionRow
    if not actuators:
        return []
    query = select(a).where(a.status == "dry_run", a.last_error.is_(None), a.actuator.in_(list(actuators))).order_by(a.id).limit(limit)
    with engine.connect() as conn:
        return [FailoverActionRow.model_validate(r._mapping) for r in conn.execute(query)]


def rehearsed(engine: Engine, action_id: int, verdict: str) -> None:
    """Keep what the actuator's validate-only mode said about a dry-run action (it stays dry_run: nothing was sent)."""
    a = FailoverActionRow
    with begin_write(engine) as conn:
        conn.execute(update(a).where(a.id == action_id, a.status == "dry_run").values(last_error=verdict[:500]))
