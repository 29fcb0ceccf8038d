"""The status pages (overview, one channel, incident history), the JSON API for channels, and /healthz.

Everything a page shows from probes (errors, condition values, causes) is text: autoescaped, cut to a
length, and never put in an attribute or a link. Attributes hold only our own figures and names.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from monitor.failover.report import failover_summary
from monitor.health import State
from monitor.money import money
from monitor.service import MonitorService
from monitor.store.queries import channel_incidents, incident_page, latency_series, plans_for_incidents, recent_incidents, uptime_windows
from monitor.store.rollups import DAY, HOUR, floor_to
from monitor.web.cache import Cached
from monitor.web.charts import bar_now, history_view, latency_chart
from monitor.web.failover_view import attention, moved_away_from, placed
from monitor.web.keys import DEMO, SERVICE, UPTIME
from monitor.web.views import (
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

log = logging.getLogger("monitor.web")

UPTIME_CACHE_SECONDS = 15.0  # the status page refreshes often; uptime need not be summed each time
HISTORY_DAYS = 90
INCIDENTS_PER_PAGE = 50
MAINTENANCE_HORIZON = 7 * DAY  # upcoming maintenance the overview announces
GROUPS = {"own_shop": "Own shop", "marketplace": "Marketplaces", "social": "Social",
          "comparison": "Price comparison", "messaging": "Messaging", "other": "Other"}


def setup_routes(app: web.Application) -> None:
    """Register the status pages, API and health routes."""
    # From rollups: 24 h, 7 d, 30 d and 90 d per channel; and the 90 daily bars, drawn once per refresh.
    # Both computed again (results buffered so far written first) as soon as a channel goes down or
    # degraded, so no page shows a new "Down" beside figures summed while the channel was up.
    uptime_cache = app[UPTIME] = Cached(UPTIME_CACHE_SECONDS, lambda s: uptime_windows(s.engine, s.clock()),
                                        sees=bad_channels, settle=stored)
    history_cache = Cached(UPTIME_CACHE_SECONDS, lambda s: history_view(s.engine, s.clock(), HISTORY_DAYS),
                           sees=bad_channels, settle=stored)

    async def finish_refreshes(_app: web.Application) -> None:
        await asyncio.gather(*(c.refreshing for c in (uptime_cache, history_cache) if c.refreshing), return_exceptions=True)

    app.on_shutdown.append(finish_refreshes)

    async def channels_view(request: web.Request) -> list[dict[str, Any]]:
        service = request.app[SERVICE]
        uptime = await uptime_cache.get(service)
        return [channel_summary(service, cid, uptime.get(cid, {})) for cid in service.channels]

    def common(request: web.Request, service: MonitorService, nav: str = "") -> dict[str, Any]:
        return {"nav": nav, "now": service.clock(), "ago": ago, "fmt_time": fmt_time, "pct": pct, "ms": ms,
                "demo": request.app.get(DEMO), "state_label": state_label}

    async def page(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        uptime = await uptime_cache.get(service)
        history = await history_cache.get(service)
        now = service.clock()
        channels = [overview_row(service, cid, uptime.get(cid, {}), now) for cid in service.channels]
        incidents = [incident_view(i, now) for i in await asyncio.to_thread(recent_incidents, service.engine, 10)]
        down = [c for c in channels if c["state"] == "down"]
        degraded = [c for c in channels if c["state"] == "degraded"]
        names = {c["id"]: c["name"] for c in channels}
        failover = notice = None
        if service.failover.enabled:
            show = service.config.show_failover
            failover = await asyncio.to_thread(failover_summary, service.failover, plans=5 if show else 0)
            notice = attention(failover, names, amounts=show)
            if show:
                failover["moved_away_from"] = moved_away_from(failover)
                for p in failover["promotions"]:
                    p["placed"] = placed(p)
            else:
                failover = None  # allocations reveal budgets
        groups = [(key, label, [c for c in channels if c["group"] == key]) for key, label in GROUPS.items()]
        context = {
            **common(request, service, "overview"), "alert_problems": service.alerts.problems, "failover": failover, "money": money,
            "attention": notice, "owners": {p.id: p.name for p in service.failover.promotions.values()},
            "names_of": lambda ids: ", ".join(names.get(i, i) for i in ids), "channels": channels, "down": down,
            "degraded": degraded, "groups": [g for g in groups if g[2]],
            "bars": {c["id"]: bar_now(history, c["id"], c["state"]) for c in channels},
            "empty_bar": history["empty"], "connectivity_lost": service.connectivity_lost,
            "connectivity_reason": service.guard.reason, "incidents": incidents, "names": names,
            "maintenance": maintenance_notices(service, now, MAINTENANCE_HORIZON)}
        return aiohttp_jinja2.render_template("status.html", request, context)

    async def channel_page(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        cid = request.match_info["channel"]
        if cid not in service.channels:
            return not_found(request, service, "No such channel", "There is no channel with that id on this monitor.")
        uptime = await uptime_cache.get(service)
        history = await history_cache.get(service)
        summary = channel_summary(service, cid, uptime.get(cid, {}))
        now = service.clock()
        lo = floor_to(now - DAY, HOUR)
        series, incidents = await asyncio.gather(
            asyncio.to_thread(latency_series, service.engine, cid, lo, now),
            asyncio.to_thread(channel_incidents, service.engine, cid, 20))
        health = service.health[cid]
        checks = [{**c, "chart": latency_chart(c["id"], series.get(c["id"], []), lo, now)} for c in summary["checks"]]
        context = {**common(request, service), "c": summary, "checks": checks, "reason": cause_text(health.cause),
                   "group_label": GROUPS.get(summary["group"], summary["group"]),
                   "bar": bar_now(history, cid, summary["state"]),
                   "incidents": [incident_view(i, now) for i in incidents],
                   "maintenance": maintenance_notices(service, now, 30 * DAY, [cid]),
                   "windows": [describe_window(w) for w in service.windows.get(cid, [])]}
        return aiohttp_jinja2.render_template("channel.html", request, context)

    async def incidents_page(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        raw = request.query.get("page", "1")
        if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
            raise web.HTTPBadRequest(text="page must be a whole number from 1, e.g. /incidents?page=2")
        number = int(raw)
        rows, total = await asyncio.to_thread(incident_page, service.engine, number, INCIDENTS_PER_PAGE)
        pages = max(1, math.ceil(total / INCIDENTS_PER_PAGE))
        if number > pages:
            return not_found(request, service, "No such page", f"The incident history has {pages} page{'s' if pages > 1 else ''}.")
        now = service.clock()
        plans = {}
        if service.config.show_failover:  # plans name promotions: shown where failover is
            plans = await asyncio.to_thread(plans_for_incidents, service.engine, rows, now)
        names = {cid: ch.name for cid, ch in service.channels.items()}
        context = {**common(request, service, "incidents"),
                   "incidents": [incident_view(i, now, plans.get(i.id, [])) for i in rows],
                   "show_plans": service.config.show_failover, "names": names, "page": number, "pages": pages,
                   "owners": {p.id: p.name for p in service.failover.promotions.values()},
                   "total": total, "per_page": INCIDENTS_PER_PAGE}
        return aiohttp_jinja2.render_template("incidents.html", request, context)

    def not_found(request: web.Request, service: MonitorService, title: str, text: str) -> web.Response:
        return aiohttp_jinja2.render_template("not_found.html", request,
                                              {**common(request, service), "title": title, "text": text}, status=404)

    async def api_channels(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        return web.json_response({"connectivity": {"lost": service.connectivity_lost, "reason": service.guard.reason},
                                  "alert_problems": service.alerts.problems,
                                  "channels": await channels_view(request)})

    async def healthz(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        ok = service.healthy
        body = {"status": "ok" if ok else "failing", "scheduler_running": service.scheduler.running,
                "writer_queue_depth": service.writer.depth, "database_failing": service.writer.failing}
        return web.json_response(body, status=200 if ok else 503)

    handlers: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("/", page), ("/channels/{channel}", channel_page), ("/incidents", incidents_page),
        ("/api/channels", api_channels), ("/healthz", healthz)]
    for path, handler in handlers:
        app.router.add_get(path, handler)


def bad_channels(service: MonitorService) -> frozenset[tuple[str, float]]:
    """Each channel down or degraded now, with the time it became so: what the pages' figures must have seen."""
    return frozenset((cid, h.since) for cid, h in service.health.items() if h.state in (State.DOWN, State.DEGRADED))


async def stored(service: MonitorService) -> None:
    """Write the results buffered so far, so that the figures summed next count them."""
    await service.writer.flush()
