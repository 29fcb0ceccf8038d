"""What the status pages show for channels, incidents and maintenance, and how figures are written. Pure."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from monitor.core.durations import format_duration
from monitor.core.money import money  # noqa: F401 - re-exported for the templates and views
from monitor.health import State
from monitor.maintenance import Window
from monitor.quorum import Vote
from monitor.web.read_model import UPTIME_WINDOWS, ChannelInfo, CheckInfo, Incident, PlanRef, ReadModel

CAUSE_CHARS = 160  # probe text on the overview is cut to this
GROUPS = {
    "own_shop": "Own shop",
    "marketplace": "Marketplaces",
    "social": "Social",
    "comparison": "Price comparison",
    "messaging": "Messaging",
    "other": "Other",
}


def channel_summary(model: ReadModel, channel_id: str, uptime: Mapping[str, float | None]) -> dict[str, Any]:
    """What the page and the API show for one channel, from memory (plus the cached uptime)."""
    channel = model.channels()[channel_id]
    status = model.status(channel_id)
    checks = [_check_summary(model, channel_id, check) for check in channel.checks]
    failing_from = sorted({loc for c in checks if c["locations"] for loc in c["locations"]["failing"]})
    # The cause is what put the channel in its state (kept while it recovers), not merely any
    # failing check: an up channel whose status page is stale has nothing to explain.
    bad = status.state in (State.DOWN, State.DEGRADED)
    timed = next(
        (c for c, info in zip(checks, channel.checks) if info.latency and c["duration_seconds"] is not None),
        next((c for c in checks if c["duration_seconds"] is not None), None),
    )
    return {
        "id": channel.id,
        "name": channel.name,
        "group": channel.group,
        "state": status.state.value,
        "flapping": status.flapping,
        "since": status.since,
        **{f"uptime_{w}": None if uptime.get(w) is None else round(uptime[w], 6) for w in UPTIME_WINDOWS},
        "cause": cause_text(status.cause) if bad else None,
        "latency_seconds": timed["duration_seconds"] if timed else None,
        # Probing from several locations (--role decide): the locations where some check fails now; else None.
        "failing_locations": failing_from if any(c["locations"] for c in checks) else None,
        "checks": checks,
    }


def _check_summary(model: ReadModel, channel_id: str, check: CheckInfo) -> dict[str, Any]:
    latest = model.latest(channel_id, check.id)
    return {
        "id": check.id,
        "kind": check.kind,
        "interval": format_duration(check.interval_seconds),
        "state": model.check_state(channel_id, check.id).value,
        "ok": latest.result.ok if latest else None,
        "severity": None if latest is None or latest.result.ok else latest.result.severity,
        "error_class": latest.result.error_class if latest else None,
        "error": latest.result.error if latest else None,
        "duration_seconds": round(latest.duration_seconds, 4) if latest else None,
        "last_run_at": latest.at if latest else None,
        "conditions": [c.as_json() for c in latest.conditions] if latest else [],
        # When the certificate the last result saw expires (tls checks, https http checks), else None.
        "cert_not_after": _number(latest.result.facts.get("cert_not_after")) if latest else None,
        "locations": location_view(model.locations(channel_id, check.id)),
    }


def location_view(vote: Vote | None) -> dict[str, Any] | None:
    """Who sees a check failing, from several locations (None with one): the page's line and the API's object."""
    if vote is None:
        return None
    return {
        "failing": list(vote.failing),
        "down": list(vote.down),
        "degraded": list(vote.degraded),
        "unknown": list(vote.unknown),  # stale, or their own network in doubt: they do not vote
        "voting": vote.voting,
        "needed": vote.needed,
        "text": location_text(vote),
    }


def location_text(vote: Vote) -> str:
    """E.g. "failing from waw, fra (2 of 3 voting locations; 2 needed for down)"."""
    if vote.voting and vote.voting < vote.needed:
        text = f"only {vote.voting} of the {vote.needed} locations needed can vote: state held"
        if vote.failing:
            text += f"; failing from {', '.join(vote.failing)}"
    elif vote.failing:
        text = (
            f"failing from {', '.join(vote.failing)} ({len(vote.failing)} of {vote.voting} voting locations; {vote.needed} needed for down)"
        )
    elif vote.voting:
        text = f"fine from all {vote.voting} voting locations"
    else:
        text = "no location can vote now"
    if vote.unknown:
        text += f"; unknown from {', '.join(vote.unknown)}"
    return text


def overview_row(model: ReadModel, channel: ChannelInfo, uptime: Mapping[str, float | None], now: float) -> dict[str, Any]:
    """One channel's line on the overview, as text ready to print (the page lists hundreds of them).

    The same figures as channel_summary: the state, the cause while down or degraded, the latest
    duration of the first check whose kind gives the latency (http; else of the first check that ran), the uptime.
    """
    status = model.status(channel.id)
    runs = [(c, r) for c, r in ((c, model.latest(channel.id, c.id)) for c in channel.checks) if r is not None]
    timed = next((r for c, r in runs if c.latency), runs[0][1] if runs else None)
    cause = cause_text(status.cause) if status.state in (State.DOWN, State.DEGRADED) else None
    return {
        "id": channel.id,
        "name": channel.name,
        "group": channel.group,
        "state": status.state.value,
        "label": status.state.value.capitalize() + (", flapping" if status.flapping else ""),
        "since": f"for {ago(status.since, now)}" if status.since else "",
        "cause": cut(cause, CAUSE_CHARS) if cause else None,
        "latency": ms(timed.duration_seconds) if timed else "—",
        "u24": pct(uptime.get("24h")),
        "u30": pct(uptime.get("30d")),
        "u90": pct(uptime.get("90d")),
    }


def cause_text(cause: Mapping[str, Any]) -> str | None:
    """Why a channel is (or was) in its state, in words, from a stored cause; None when it names nothing.

    The one place causes become text (pages, /api/channels, /api/incidents): the failing check
    ('storefront: connection refused by ...'), a manual override (who and why) or a maintenance window.
    """
    if cause.get("error"):
        return f"{cause.get('check')}: {cause['error']}"
    if cause.get("maintenance"):
        return f"planned maintenance: {cause['maintenance']}"
    if "override_by" in cause:
        return f"set by hand by {cause['override_by']}: {cause.get('reason') or 'no reason given'}"
    return None


def incident_view(incident: Incident, now: float, plans: list[PlanRef] | None = None) -> dict[str, Any]:
    """One incident for a page: times, how long (so far), the cause in words, the failover plans naming it."""
    end = incident.ended_at
    return {
        "id": incident.id,
        "channel": incident.channel,
        "started_at": incident.started_at,
        "ended_at": end,
        "duration": span((end if end is not None else now) - incident.started_at),
        "cause": cause_text(json.loads(incident.cause)) or "—",
        "plans": plans or [],
    }


def maintenance_notices(model: ReadModel, now: float, horizon: float, channels: list[str] | None = None) -> list[dict[str, Any]]:
    """Maintenance going on now, then maintenance starting within the horizon, soonest first."""
    notices = []
    windows, known = model.windows(), model.channels()
    for cid in channels if channels is not None else list(windows):
        for w in windows.get(cid, []):
            start, end = _occurrence(w, now)
            if start is None or end is None or end <= now or start > now + horizon:
                continue
            notices.append(
                {
                    "channel": cid,
                    "name": known[cid].name if cid in known else cid,
                    "reason": w.reason,
                    "by": w.by,
                    "start": start,
                    "end": end,
                    "current": start <= now,
                }
            )
    return sorted(notices, key=lambda n: (not n["current"], n["start"]))


def _occurrence(w: Window, now: float) -> tuple[float | None, float | None]:
    """The window's occurrence covering now, else its next one: (start, end)."""
    if w.cron is None:
        return w.start, w.end
    assert w.duration is not None
    start = w.current_start(now)
    if start is None:
        start = w.next_start(now)
    return (start, start + w.duration) if start is not None else (None, None)


def describe_window(w: Window) -> str:
    if w.cron is not None:
        return f"recurring: cron '{w.cron}' ({w.time_zone}), lasting {span(w.duration or 0)}"
    return f"one-off: {fmt_time(w.start)} to {fmt_time(w.end)}"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def ago(since: float | None, now: float) -> str:
    """How long since a time, in the largest whole unit: '12s', '5m', '3h', '2d'."""
    if since is None:
        return "—"
    delta = max(0, int(now - since))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta // size}{unit}"
    return f"{delta}s"


def cut(text: str, limit: int) -> str:
    """At most `limit` characters: longer text is cut and ends with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def span(seconds: float) -> str:
    """A duration in words for people: '45s', '10m', '1h 5m', '2d 3h'."""
    seconds = max(0.0, seconds)
    if seconds < 59.5:
        return f"{max(1, round(seconds)) if seconds > 0 else 0}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h" + (f" {minutes % 60}m" if minutes % 60 else "")
    hours = round(seconds / 3600)
    return f"{hours // 24}d" + (f" {hours % 24}h" if hours % 24 else "")


def pct(share: float | None) -> str:
    """A share as a percentage, never rounded up to 100%: 0.99999 -> '99.99%'."""
    if share is None:
        return "—"
    if share >= 1:
        return "100%"
    return f"{math.floor(share * 10000) / 100:.2f}%"


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    millis = seconds * 1000
    if millis >= 10_000:
        return f"{seconds:.1f} s"
    return f"{millis:.0f} ms" if millis >= 10 else f"{millis:.1f} ms"


def fmt_time(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)) if epoch else "—"


def fmt_day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def fmt_hour(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:00 UTC", time.gmtime(epoch))


def state_label(state: str) -> str:
    return state.capitalize()
