"""Alert persistence for the router: the outbox rows to route, deliveries, their outcomes and message threads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from monitor.store.db import begin_write
from monitor.store.models import AlertDeliveryRow, AlertRow, AlertThreadRow
from monitor.store.upsert import upsert


class StoredAlert(NamedTuple):
    """An outbox row: its id, when it was raised, and the alert as JSON."""

    id: int
    at: float
    payload: str


class NewDelivery(NamedTuple):
    """A delivery to create: which alert, to whom, the fallbacks after it and when it is due."""

    alert_id: int
    destination: str
    chain: list[str]
    next_at: float


class Retry(NamedTuple):
    """A failed delivery to try again: its attempts so far (with this one), when, and since when it fails."""

    id: int
    attempts: int
    next_at: float
    first_failed_at: float


class Handover(NamedTuple):
    """A delivery given up on: its id, and the one that takes over (None: nobody is left, it failed)."""

    id: int
    then: NewDelivery | None


def _delivery_rows(new: Iterable[NewDelivery]) -> list[dict[str, object]]:
    """The rows of new pending deliveries."""
    return [
        {
            "alert_id": d.alert_id,
            "destination": d.destination,
            "chain": json.dumps(d.chain),
            "status": "pending",
            "attempts": 0,
            "next_at": d.next_at,
        }
        for d in new
    ]


def unrouted(engine: Engine, limit: int) -> list[StoredAlert]:
    """The oldest outbox rows not routed yet, at most `limit`."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(AlertRow.id, AlertRow.at, AlertRow.payload).where(AlertRow.routed.is_(False)).order_by(AlertRow.id).limit(limit)
        ).all()
    return [StoredAlert(*r) for r in rows]


def mark_routed(engine: Engine, alert_ids: Sequence[int], deliveries: Sequence[NewDelivery]) -> None:
    """Create the deliveries (an existing one for the same alert and destination is kept) and mark the alerts routed."""
    with begin_write(engine) as conn:
        if deliveries:
            upsert(conn, AlertDeliveryRow.__table__, _delivery_rows(deliveries), ["alert_id", "destination"], update=False)
        conn.execute(update(AlertRow).where(AlertRow.id.in_(list(alert_ids))).values(routed=True))


def pending_deliveries(engine: Engine) -> list[tuple[AlertDeliveryRow, str]]:
    """Every pending delivery with its alert's payload, by destination and id."""
    d = AlertDeliveryRow
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.__table__, AlertRow.payload.label("alert_payload"))
            .join(AlertRow, AlertRow.id == d.alert_id)
            .where(d.status == "pending")
            .order_by(d.destination, d.id)
        ).all()
    out = []
    for row in rows:
        values = dict(row._mapping)
        payload = values.pop("alert_payload")
        out.append((AlertDeliveryRow.model_validate(values), payload))
    return out


def threads(engine: Engine, destination: str, keys: Sequence[str]) -> dict[str, AlertThreadRow]:
    """The destination's message thread of each incident key that has one."""
    t = AlertThreadRow
    with engine.connect() as conn:
        return {
            r.key: AlertThreadRow.model_validate(r._mapping)
            for r in conn.execute(select(t).where(t.destination == destination, t.key.in_(list(keys))))
        }


def alert_payloads(engine: Engine, ids: Sequence[int]) -> list[StoredAlert]:
    """The outbox rows with these ids, in id order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(AlertRow.id, AlertRow.at, AlertRow.payload).where(AlertRow.id.in_(list(ids))).order_by(AlertRow.id)
        ).all()
    return [StoredAlert(*r) for r in rows]


def mark_sent(
    engine: Engine, delivery_ids: Sequence[int], now: float, ref: str | None, destination: str, keys: Sequence[str], covered: list[int]
) -> None:
    """Mark deliveries sent; with a message ref, record it as the thread of each incident key (covering `covered`)."""
    d = AlertDeliveryRow
    with begin_write(engine) as conn:
        conn.execute(update(d).where(d.id.in_(list(delivery_ids))).values(status="sent", sent_at=now, ref=ref, attempts=d.attempts + 1))
        if ref:
            upsert(
                conn,
                AlertThreadRow.__table__,
                [{"destination": destination, "key": k, "ref": ref, "alert_ids": json.dumps(covered), "updated_at": now} for k in keys],
                ["destination", "key"],
            )


def schedule_retries(engine: Engine, retries: Sequence[Retry], error: str) -> None:
    """Put failed deliveries (still pending) back for another attempt later."""
    d = AlertDeliveryRow
    with begin_write(engine) as conn:
        for r in retries:
            conn.execute(
                update(d)
                .where(d.id == r.id, d.status == "pending")
                .values(attempts=r.attempts, next_at=r.next_at, last_error=error[:500], first_failed_at=r.first_failed_at)
            )


def hand_over(engine: Engine, handovers: Sequence[Handover], why: str) -> None:
    """End deliveries given up on (still pending): fell back to the next notifier, or failed with nobody left."""
    d = AlertDeliveryRow
    with begin_write(engine) as conn:
        for h in handovers:
            conn.execute(
                update(d)
                .where(d.id == h.id, d.status == "pending")
                .values(status="fell_back" if h.then else "failed", last_error=why[:500])
            )
            if h.then:
                upsert(conn, d.__table__, _delivery_rows([h.then]), ["alert_id", "destination"], update=False)


def failing_destinations(engine: Engine) -> dict[str, tuple[float, str | None]]:
    """Destinations with deliveries being retried: since when the oldest has failed, and its last error
    (what a web instance, which sends nothing itself, shows as the notifiers' problems)."""
    d = AlertDeliveryRow
    query = (
        select(d.destination, d.first_failed_at, d.last_error)
        .where(d.status == "pending", d.attempts > 0)
        .order_by(d.destination, d.first_failed_at)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out: dict[str, tuple[float, str | None]] = {}
    for row in rows:
        out.setdefault(row.destination, (row.first_failed_at or 0.0, row.last_error))
    return out
