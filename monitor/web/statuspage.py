"""The documents of the Statuspage v2-compatible API (monitor/web/statuspage_api.py serves them). Pure.

Shapes follow Statuspage's public v2 API: channels are components, channel groups are component groups,
incidents come from the incidents table and scheduled maintenances from the maintenance windows.
Timestamps are UTC with milliseconds and a "Z" ("2026-11-22T14:00:00.000Z"), as statuspage.io emits them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.timefmt import iso_z
from monitor.health import State
from monitor.maintenance import Window
from monitor.web.read_model import ChannelInfo, ChannelStatus, Connectivity, Incident
from monitor.web.views import GROUPS, cause_text

PAGE_ID = "channel-monitor"  # one page per monitor; no other page shares its responses
PAGE_NAME = "Channel status"
LIMIT = 50  # incidents and maintenances per list, as Statuspage
HORIZON = 7 * 86400.0  # a recurring window is announced this long before it starts
BODY_LIMIT = 500

FLAPPING_NOTE = "Flapping: its checks keep passing and failing"
COMPONENT_STATUS = {
    State.UP: "operational",
    State.DEGRADED: "degraded_performance",
    State.DOWN: "major_outage",
    State.MAINTENANCE: "under_maintenance",
    # Not yet probed (just started or just added) says nothing about the channel: reporting it as an
    # outage would alarm every aggregator after each restart.
    State.UNKNOWN: "operational",
}
RANK = {"operational": 0, "under_maintenance": 1, "degraded_performance": 2, "partial_outage": 3, "major_outage": 4}
GROUP_NAMES = GROUPS
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
    "maintenance": "Service Under Maintenance",
}
CONNECTIVITY_LOST = "Monitor Connectivity Lost"
OVERLOADED = "Monitor Overloaded"


iso = iso_z  # Statuspage's format


def span(seconds: float) -> str:
    """A duration in its two largest units: '12s', '5m 12s', '2h 3m', '1d 4h'."""
    left, parts = max(0, int(seconds)), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def indicator(states: Sequence[State], connectivity_lost: bool = False, overloaded: bool = False) -> tuple[str, str]:
    """The page's (status.indicator, status.description) from the channels' states."""
    if connectivity_lost:  # every state is frozen and may be stale: say so rather than "operational"
        return "critical", CONNECTIVITY_LOST
    if overloaded:  # the same: the monitor cannot judge the channels now
        return "critical", OVERLOADED
    down = sum(s is State.DOWN for s in states)
    if down and 2 * down >= len(states):
        level = "critical"
    elif down:
        level = "major"
    elif State.DEGRADED in states:
        level = "minor"
    elif State.MAINTENANCE in states:
        level = "maintenance"
    else:
        level = "none"
    return level, DESCRIPTIONS[level]


def page(url: str, statuses: Iterable[ChannelStatus], started_at: float) -> dict[str, Any]:
    """The page object: its address, and when a channel last changed state (else when the monitor started)."""
    times = [s.since for s in statuses if s.since is not None]
    return {"id": PAGE_ID, "name": PAGE_NAME, "url": url, "time_zone": "Etc/UTC", "updated_at": iso(max(times, default=started_at))}


def components(channels: Iterable[ChannelInfo], statuses: Mapping[str, ChannelStatus], started_at: float) -> list[dict[str, Any]]:
    """Groups (in order of their first channel) each followed by its channels, positioned as Statuspage does."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for channel in channels:
        members = groups.setdefault(channel.group, [])
        status_ = statuses.get(channel.id) or ChannelStatus()
        since = status_.since if status_.since is not None else started_at
        members.append(
            {
                "id": channel.id,
                "name": channel.name,
                "status": COMPONENT_STATUS[status_.state],
                "created_at": iso(min(since, started_at)),
                "updated_at": iso(since),
                "position": len(members) + 1,
                "showcase": True,
                "start_date": None,
                # Statuspage has no flapping status: the description says it (clients show it as the component's note).
                "description": FLAPPING_NOTE if status_.flapping else None,
                "group_id": f"group.{channel.group}",
                "page_id": PAGE_ID,
                "group": False,
                "only_show_if_degraded": False,
            }
        )
    out: list[dict[str, Any]] = []
    for position, (group, members) in enumerate(groups.items(), start=1):
        out.append(
            {
                "id": f"group.{group}",
                "name": GROUP_NAMES.get(group, group),
                "status": max((m["status"] for m in members), key=RANK.__getitem__),  # the worst channel's
                "created_at": min(m["created_at"] for m in members),
                "updated_at": max(m["updated_at"] for m in members),
                "position": position,
                "description": None,
                "showcase": False,
                "start_date": None,
                "group_id": None,
                "page_id": PAGE_ID,
                "group": True,
                "only_show_if_degraded": False,
                "components": [m["id"] for m in members],
            }
        )
        out.extend(members)
    return out


def status(statuses: Iterable[ChannelStatus], connectivity: Connectivity) -> dict[str, str]:
    """The page's status object."""
    level, description = indicator([s.state for s in statuses], connectivity.lost, connectivity.overloaded)
    return {"indicator": level, "description": description}


def _body(text: str) -> str:
    return text if len(text) <= BODY_LIMIT else text[: BODY_LIMIT - 1] + "…"


def _update(parent: str, status_: str, body: str, at: float) -> dict[str, Any]:
    return {
        "id": f"{parent}-{status_}",
        "status": status_,
        "body": _body(body),
        "incident_id": parent,
        "created_at": iso(at),
        "updated_at": iso(at),
        "display_at": iso(at),
        "affected_components": None,
        "deliver_notifications": False,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_cause(cause: dict[str, Any]) -> str:
    """What took the channel down, in plain words."""
    if cause.get("error"):
        return cause_text(cause)
    if cause.get("reason"):  # a manual override; who set it stays private
        return f"Marked down by hand: {cause['reason']}"
    return "No cause recorded."


def incident(row: Incident, names: Mapping[str, str], url: str, by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One stored incident as a Statuspage incident: investigating while open, resolved once ended."""
    name = names.get(row.channel, row.channel)
    iid = str(row.id)
    try:
        cause = json.loads(row.cause)
    except ValueError:
        cause = {}
    updates = [_update(iid, "investigating", incident_cause(cause if isinstance(cause, dict) else {}), row.started_at)]
    if row.ended_at is not None:
        updates.insert(0, _update(iid, "resolved", f"{name} is up again after {span(row.ended_at - row.started_at)}.", row.ended_at))
    return {
        "id": iid,
        "name": f"{name} is down",
        "status": "resolved" if row.ended_at is not None else "investigating",
        "created_at": iso(row.started_at),
        "updated_at": iso(row.ended_at or row.started_at),
        "monitoring_at": None,
        "resolved_at": iso(row.ended_at) if row.ended_at is not None else None,
        "impact": "major",
        "shortlink": url,
        "started_at": iso(row.started_at),
        "page_id": PAGE_ID,
        "incident_updates": updates,
        "components": [by_id[row.channel]] if row.channel in by_id else [],
    }


@dataclass(frozen=True, slots=True)
class Occurrence:
    reason: str
    start: float
    end: float


Memo = dict[Window, tuple[float, list[Occurrence]]]


def occurrences(window: Window, now: float, horizon: float = HORIZON, memo: Memo | None = None) -> list[Occurrence]:
    """What a window shows: a one-off as it is (past, current or future); a recurring one's current
    occurrence, else its next if it starts within the horizon."""
    if window.cron is None:
        return [Occurrence(window.reason, window.start, window.end)] if window.start is not None and window.end is not None else []
    # Finding a cron occurrence costs ~0.15 ms, too much for every window on every poll; the answer
    # holds until that occurrence ends (or the next one starts, or enters the horizon).
    if memo is not None and window in memo and now < memo[window][0]:
        return memo[window][1]
    assert window.duration is not None
    start, following = window.current_start(now), window.next_start(now)
    if start is None and following is not None and following - now <= horizon:
        start, following = following, None
    shown = [] if start is None else [Occurrence(window.reason, start, start + window.duration)]
    if memo is not None:
        if start is not None:  # shown until it ends, or until an overlapping next one begins
            until = min(start + window.duration, following if following is not None else math.inf)
        else:  # nothing within the horizon: until the next start enters it
            until = following - horizon if following is not None else math.inf
        memo[window] = (until, shown)
    return shown


def maintenances(
    windows_by_channel: Mapping[str, Sequence[Window]],
    started_at: float,
    now: float,
    url: str,
    by_id: dict[str, dict[str, Any]],
    statuses: Iterable[str] = ("scheduled", "in_progress", "completed"),
    memo: Memo | None = None,
) -> list[dict[str, Any]]:
    """The windows as scheduled maintenances, latest first; the same window on several channels is one."""
    merged: dict[Occurrence, list[str]] = {}
    for channel_id, windows in windows_by_channel.items():
        for window in windows:
            for occurrence in occurrences(window, now, memo=memo):
                ids = merged.setdefault(occurrence, [])
                if channel_id not in ids:
                    ids.append(channel_id)
    wanted = set(statuses)
    out = []
    for occ, channel_ids in sorted(merged.items(), key=lambda item: -item[0].start):
        state = "scheduled" if now < occ.start else "in_progress" if now < occ.end else "completed"
        if state not in wanted:
            continue
        mid = hashlib.sha1(f"{occ.reason}\0{occ.start}\0{occ.end}".encode()).hexdigest()[:12]
        created = min(started_at, occ.start)
        updates = [_update(mid, "scheduled", f"{occ.reason} (from {iso(occ.start)} until {iso(occ.end)})", created)]
        if state != "scheduled":
            updates.insert(0, _update(mid, "in_progress", "Scheduled maintenance is in progress.", occ.start))
        if state == "completed":
            updates.insert(0, _update(mid, "completed", "The scheduled maintenance has been completed.", occ.end))
        out.append(
            {
                "id": mid,
                "name": occ.reason,
                "status": state,
                "created_at": iso(created),
                "updated_at": updates[0]["created_at"],
                "monitoring_at": None,
                "resolved_at": iso(occ.end) if state == "completed" else None,
                "impact": "maintenance",
                "shortlink": url,
                "started_at": iso(occ.start),
                "page_id": PAGE_ID,
                "scheduled_for": iso(occ.start),
                "scheduled_until": iso(occ.end),
                "incident_updates": updates,
                "components": [by_id[c] for c in channel_ids if c in by_id],
            }
        )
        if len(out) == LIMIT:
            break
    return out
