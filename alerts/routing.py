"""Routing, grouping and fallback rules of the alert router, pure: no database, no sending, no clock.

The router (alerts/router.py) reads the outbox and sends; these functions decide: which notifiers an alert
goes to (the first matching route, then its fallbacks), when a destination's waiting alerts may go out, which
alerts are the same thing said twice, which incident message each alert belongs under, and how a
notifier's delivery health reads on public pages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from alerts.base import Alert
from alerts.config import Route


class Queued(Protocol):
    """What due_at needs of a pending delivery row."""

    attempts: int
    next_at: float


@dataclass(slots=True)
class DestinationHealth:
    failing_since: float | None = None
    broken: str | None = None  # a permanent error: not tried again until restart
    last_error: str = ""
    fell_back: int = 0  # alerts handed on while failing


def alert_row(alert: Alert) -> dict[str, Any]:
    """The outbox row of an alert (the writer inserts it)."""
    payload = {k: v for k, v in asdict(alert).items() if k != "id"}
    return {
        "at": alert.at,
        "event": alert.event,
        "channel": alert.channel,
        "key": alert.key,
        "severity": alert.severity,
        "payload": json.dumps(payload, default=list),
        "routed": False,
    }


def alert_from_row(row: Any) -> Alert:
    """The alert an outbox row holds."""
    return alert_from_payload(row.payload, row.id)


def alert_from_payload(payload: str, alert_id: int) -> Alert:
    """An alert from its stored JSON payload and outbox id."""
    data = json.loads(payload)
    data["tags"] = tuple(data.get("tags") or ())
    return Alert(**data, id=alert_id)


def default_routes(routes: Sequence[Route], notifiers: Collection[str]) -> list[Route]:
    """The configured routes; none: every alert goes to the notifiers in the order listed (each the next one's fallback)."""
    return list(routes) or ([Route(to=list(notifiers))] if notifiers else [])


def route_chain(routes: Sequence[Route], notifiers: Collection[str], alert: Alert) -> list[str]:
    """The notifier an alert goes to, then its fallbacks: from the first route that matches (muted or none: [])."""
    for route in routes:
        if route.matches(alert.channel, alert.group, alert.tags, alert.severity, alert.event):
            return [] if route.mute else [n for n in route.to if n in notifiers]
    return []


def next_in_chain(chain: Sequence[str], usable: Collection[str]) -> tuple[str, list[str]] | None:
    """The next notifier of a fallback chain that can deliver, and the chain after it (None: none is left)."""
    nxt = next((n for n in chain if n in usable), None)
    return (nxt, list(chain[chain.index(nxt) + 1 :])) if nxt else None


def due_at(rows: Sequence[tuple[Queued, Alert]], group_wait: float) -> float:
    """When a destination's pending deliveries (oldest first) may go out.

    In order: while the oldest waits for its retry, everything after it waits too. A first attempt
    also waits for the group window (`group_wait` from the oldest alert) to close; a retry does not.
    """
    oldest, alert = rows[0]
    if any(r.attempts for r, _ in rows):
        return oldest.next_at
    return max(oldest.next_at, alert.at + group_wait)


def dedupe(alerts: list[Alert]) -> list[Alert]:
    """The same event about the same incident twice in one window (a restart, a reminder race) is said once."""
    seen: set[tuple] = set()
    out = []
    for a in alerts:
        mark = (a.key, a.event, a.old_state, a.new_state, a.detail) if a.key else (a.id,)
        if mark not in seen:
            seen.add(mark)
            out.append(a)
    return out


def by_thread(alerts: list[Alert], refs: Mapping[str, str]) -> tuple[dict[str, list[Alert]], list[Alert]]:
    """Alerts whose incident (key) has a message already, per message ref; and the rest, for a new message."""
    threaded: dict[str, list[Alert]] = {}
    fresh: list[Alert] = []
    for a in alerts:
        (threaded.setdefault(refs[a.key], []) if a.key in refs else fresh).append(a)
    return threaded, fresh


def problems(health: Mapping[str, DestinationHealth]) -> dict[str, str]:
    """Notifiers that are broken or failing, for public pages: that they fail and since when, never the
    receiver's own words, host or port (problem_details has them, for the admin API and the log)."""
    out = {}
    for name, h in health.items():
        since = time.strftime("%H:%M:%S UTC", time.gmtime(h.failing_since)) if h.failing_since else "start"
        if h.broken:
            out[name] = f"not delivering since {since} (a permanent error: see the log or GET /api/admin/notifiers)"
        elif h.failing_since is not None:
            out[name] = f"failing since {since} (retrying; details in the log or GET /api/admin/notifiers)"
    return out


def problem_details(health: Mapping[str, DestinationHealth]) -> dict[str, dict[str, Any]]:
    """Every notifier's delivery health with the (scrubbed) error, for the admin API."""
    return {
        name: {
            "failing_since": h.failing_since,
            "broken": h.broken is not None,
            "last_error": h.last_error or None,
            "handed_to_fallback": h.fell_back,
        }
        for name, h in health.items()
    }
