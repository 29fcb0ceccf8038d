"""The status pages: overview, one channel, incident history (and the favicon browsers ask for with them).

Everything a page shows from probes (errors, condition values, causes) is text: autoescaped, cut to a
length, and never put in an attribute or a link. Attributes hold only our own figures and names.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from monitor.core.money import money
from monitor.health import State
from monitor.web.cache import Cached
from monitor.web.charts import bar_now, history_view, latency_chart
from monitor.web.failover_view import attention, moved_away_from, placed
from monitor.web.keys import DEMO, HISTORY, READ_MODEL, SETTINGS, UPTIME
from monitor.web.read_model import DAY, HOUR, ReadModel, floor_to
from monitor.web.views import (
    GROUPS,
    ago,
    cause_text,
    channel_summary,
    describe_window,
    fmt_time,
    incident_view,
    maintenance_notices,
    ms,
    overview_row,
    pct,
    state_label,
)

UPTIME_CACHE_SECONDS = 15.0  # the status page refreshes often; uptime need not be summed each time
HISTORY_DAYS = 90
INCIDENTS_PER_PAGE = 50
MAINTENANCE_HORIZON = 7 * DAY  # upcoming maintenance the overview announces


def figure_caches() -> tuple[Cached, Cached]:
    """The uptime by window of every channel, and the 90 daily bars (drawn once per refresh).

    Both from rollups, computed again (results buffered so far written first) as soon as a channel goes
    down or degraded, so no page shows a new "Down" beside figures summed while the channel was up.
    """
    return (
        Cached(UPTIME_CACHE_SECONDS, _uptime, sees=bad_channels, settle=_stored),
        Cached(UPTIME_CACHE_SECONDS, _history, sees=bad_channels, settle=_stored),
    )


async def _uptime(model: ReadModel) -> Any:
    return await model.uptime(model.now())


async def _history(model: ReadModel) -> dict[str, Any]:
    now = model.now()
    days = await model.daily_history(now, HISTORY_DAYS)
    return await asyncio.to_thread(history_view, days, now, HISTORY_DAYS)  # hundreds of bars: off the loop


def bad_channels(model: ReadModel) -> frozenset[tuple[str, float]]:
    """Each channel down or degraded now, with the time it became so: what the pages' figures must have seen."""
    return frozenset((cid, s.since) for cid in model.channels() if (s := model.status(cid)).state in (State.DOWN, State.DEGRADED))


async def _stored(model: ReadModel) -> None:
    await model.settle()


def common(request: web.Request, nav: str = "") -> dict[str, Any]:
    """What every page's template gets."""
    return {
        "nav": nav,
        "now": request.app[READ_MODEL].now(),
        "ago": ago,
        "fmt_time": fmt_time,
        "pct": pct,
        "ms": ms,
        "demo": request.app.get(DEMO),
        "state_label": state_label,
    }


async def overview(request: web.Request) -> web.Response:
    """GET /: every channel, what is wrong now, failover, maintenance and the latest incidents."""
    model = request.app[READ_MODEL]
    uptime = await request.app[UPTIME].get(model)
    history = await request.app[HISTORY].get(model)
    now = model.now()
    channels = [overview_row(model, c, uptime.get(c.id, {}), now) for c in model.channels().values()]
    incidents = [incident_view(i, now) for i in await model.incidents(10)]
    names = {c["id"]: c["name"] for c in channels}
    failover, notice = await _failover(request, names)
    groups = [(key, label, [c for c in channels if c["group"] == key]) for key, label in GROUPS.items()]
    connectivity = model.connectivity()
    context = {
        **common(request, "overview"),
        "alert_problems": model.alert_problems(),
        "failover": failover,
        "money": money,
        "attention": notice,
        "owners": model.promotion_names(),
        "names_of": lambda ids: ", ".join(names.get(i, i) for i in ids),
        "channels": channels,
        "down": [c for c in channels if c["state"] == "down"],
        "degraded": [c for c in channels if c["state"] == "degraded"],
        "groups": [g for g in groups if g[2]],
        "bars": {c["id"]: bar_now(history, c["id"], c["state"]) for c in channels},
        "empty_bar": history["empty"],
        "connectivity_lost": connectivity.lost,
        "connectivity_reason": connectivity.reason,
        "overloaded": connectivity.overloaded,
        "overload_reason": connectivity.overload_reason,
        "incidents": incidents,
        "names": names,
        "maintenance": maintenance_notices(model, now, MAINTENANCE_HORIZON),
    }
    return aiohttp_jinja2.render_template("status.html", request, context)


async def _failover(request: web.Request, names: dict[str, str]) -> tuple[dict[str, Any] | None, Any]:
    """The failover summary the overview may show (None: allocations reveal budgets), and its banner."""
    model = request.app[READ_MODEL]
    if not model.failover_enabled():
        return None, None
    show = request.app[SETTINGS].show_failover
    failover = await model.failover_summary(plans=5 if show else 0)
    notice = attention(failover, names, amounts=show)
    if not show:
        return None, notice
    failover["moved_away_from"] = moved_away_from(failover)
    for p in failover["promotions"]:
        p["placed"] = placed(p)
    return failover, notice


async def channel_page(request: web.Request) -> web.Response:
    """GET /channels/{channel}: one channel's checks, response times, incidents and maintenance."""
    model = request.app[READ_MODEL]
    cid = request.match_info["channel"]
    if cid not in model.channels():
        return not_found(request, "No such channel", "There is no channel with that id on this monitor.")
    uptime = await request.app[UPTIME].get(model)
    history = await request.app[HISTORY].get(model)
    summary = channel_summary(model, cid, uptime.get(cid, {}))
    now = model.now()
    lo = floor_to(now - DAY, HOUR)
    series, incidents = await asyncio.gather(model.latency(cid, lo, now), model.incidents(20, channel=cid))
    checks = [{**c, "chart": latency_chart(c["id"], series.get(c["id"], []), lo, now)} for c in summary["checks"]]
    context = {
        **common(request),
        "c": summary,
        "checks": checks,
        "reason": cause_text(model.status(cid).cause),
        "group_label": GROUPS.get(summary["group"], summary["group"]),
        "bar": bar_now(history, cid, summary["state"]),
        "incidents": [incident_view(i, now) for i in incidents],
        "maintenance": maintenance_notices(model, now, 30 * DAY, [cid]),
        "windows": [describe_window(w) for w in model.windows().get(cid, [])],
    }
    return aiohttp_jinja2.render_template("channel.html", request, context)


async def incidents_page(request: web.Request) -> web.Response:
    """GET /incidents?page=N: every incident, newest first, with the failover plans that name it."""
    model = request.app[READ_MODEL]
    raw = request.query.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        raise web.HTTPBadRequest(text="page must be a whole number from 1, e.g. /incidents?page=2")
    number = int(raw)
    rows, total = await model.incident_page(number, INCIDENTS_PER_PAGE)
    pages = max(1, math.ceil(total / INCIDENTS_PER_PAGE))
    if number > pages:
        return not_found(request, "No such page", f"The incident history has {pages} page{'s' if pages > 1 else ''}.")
    now = model.now()
    show = request.app[SETTINGS].show_failover
    plans = await model.plans_for_incidents(rows, now) if show else {}  # plans name promotions: shown where failover is
    names = {cid: ch.name for cid, ch in model.channels().items()}
    context = {
        **common(request, "incidents"),
        "incidents": [incident_view(i, now, plans.get(i.id, [])) for i in rows],
        "show_plans": show,
        "names": names,
        "page": number,
        "pages": pages,
        "owners": model.promotion_names(),
        "total": total,
        "per_page": INCIDENTS_PER_PAGE,
    }
    return aiohttp_jinja2.render_template("incidents.html", request, context)


def not_found(request: web.Request, title: str, text: str) -> web.Response:
    """The 404 page."""
    return aiohttp_jinja2.render_template("not_found.html", request, {**common(request), "title": title, "text": text}, status=404)


async def favicon(_request: web.Request) -> web.Response:
    """GET /favicon.ico: browsers ask for it on every page; "no content" keeps their consoles free of 404 errors."""
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})
