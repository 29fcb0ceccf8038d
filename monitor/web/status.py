"""The status pages (overview, one channel, incident history), the JSON API for channels, and /healthz.

Everything a page shows from probes (errors, condition values, causes) is text: autoescaped, cut to a
length, and never put in an attribute or a link. Attributes hold only our own figures and names.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup, escape
from sqlalchemy.engine import Engine

from monitor.durations import format_duration
from monitor.failover.report import failover_summary
from monitor.health import State
from monitor.maintenance import Window
from monitor.service import MonitorService
from monitor.store.queries import (UPTIME_WINDOWS, Day, LatencyPoint, channel_incidents, daily_history, incident_page,
                                   latency_series, plans_for_incidents, recent_incidents, uptime_windows)
from monitor.store.rollups import DAY, HOUR, floor_to
from monitor.web.keys import DEMO, SERVICE

log = logging.getLogger("monitor.web")

UPTIME_CACHE_SECONDS = 15.0  # the status page refreshes often; uptime need not be summed each time
HISTORY_DAYS = 90
CAUSE_CHARS = 160  # probe text on the overview is cut to this
INCIDENTS_PER_PAGE = 50
MAINTENANCE_HORIZON = 7 * DAY  # upcoming maintenance the overview announces
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
GROUPS = {"own_shop": "Own shop", "marketplace": "Marketplaces", "social": "Social",
          "comparison": "Price comparison", "messaging": "Messaging", "other": "Other"}
DAY_WORDS = {"up": "all up", "degraded": "degraded", "down": "down", "maintenance": "maintenance only", "none": "no data"}


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:
    """Add the safe headers to every response."""
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


class Cached:
    """A value computed in a thread, again when older than `seconds`.

    A caller waits only for the first value, or one grown too old (nobody asked for a while); otherwise
    it gets the value there is while a refresh runs in the background (one at a time), so a page does not
    wait for the database's sums.
    """

    def __init__(self, seconds: float, compute: Callable[[MonitorService], Any], *, wait_after: float | None = None) -> None:
        self.seconds, self.compute = seconds, compute
        self.wait_after = wait_after if wait_after is not None else 4 * seconds
        self.at: float | None = None
        self.value: Any = None
        self.lock = asyncio.Lock()
        self.refreshing: asyncio.Task | None = None

    async def get(self, service: MonitorService) -> Any:
        if self.age() > self.wait_after:  # none yet, or too old to show: wait for a fresh one
            async with self.lock:
                if self.refreshing is not None:
                    await asyncio.gather(self.refreshing, return_exceptions=True)
                if self.age() > self.wait_after:
                    await self._refresh(service)
        elif self.age() > self.seconds and self.refreshing is None:
            self.refreshing = asyncio.create_task(self._refresh_in_background(service), name="status-page-cache")
        return self.value

    def age(self) -> float:
        return math.inf if self.at is None else time.monotonic() - self.at

    async def _refresh(self, service: MonitorService) -> None:
        self.value = await asyncio.to_thread(self.compute, service)
        self.at = time.monotonic()

    async def _refresh_in_background(self, service: MonitorService) -> None:
        try:
            await self._refresh(service)
        except Exception as exc:  # the database is down, or the service stopping: the next page tries again
            log.warning("status page figures not refreshed: %s", exc)
        finally:
            self.refreshing = None


def setup_routes(app: web.Application) -> None:
    """Register the status pages, API and health routes."""
    # From rollups: 24 h, 7 d, 30 d and 90 d per channel; and the 90 daily bars, drawn once per refresh.
    uptime_cache = Cached(UPTIME_CACHE_SECONDS, lambda s: uptime_windows(s.engine, s.clock()))
    history_cache = Cached(UPTIME_CACHE_SECONDS, lambda s: history_view(s.engine, s.clock(), HISTORY_DAYS))

    async def finish_refreshes(_app: web.Application) -> None:
        await asyncio.gather(*(c.refreshing for c in (uptime_cache, history_cache) if c.refreshing), return_exceptions=True)

    app.on_shutdown.append(finish_refreshes)

    async def channels_view(request: web.Request) -> list[dict[str, Any]]:
        service = request.app[SERVICE]
        uptime = await uptime_cache.get(service)
        return [channel_summary(service, cid, uptime.get(cid, {})) for cid in service.channels]

    def common(request: web.Request, service: MonitorService, nav: str = "") -> dict[str, Any]:
        return {"nav": nav, "now": service.clock(), "ago": _ago, "fmt_time": _fmt_time, "pct": _pct, "ms": _ms,
                "demo": request.app.get(DEMO), "state_label": _state_label}

    async def page(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        uptime = await uptime_cache.get(service)
        history = await history_cache.get(service)
        now = service.clock()
        channels = [overview_row(service, cid, uptime.get(cid, {}), now) for cid in service.channels]
        incidents = [incident_view(i, now) for i in await asyncio.to_thread(recent_incidents, service.engine, 10)]
        down = [c for c in channels if c["state"] == "down"]
        degraded = [c for c in channels if c["state"] == "degraded"]
        failover = None
        if service.config.show_failover and service.failover.enabled:
            failover = await asyncio.to_thread(failover_summary, service.failover, plans=5)
        names = {c["id"]: c["name"] for c in channels}
        groups = [(key, label, [c for c in channels if c["group"] == key]) for key, label in GROUPS.items()]
        context = {
            **common(request, service, "overview"), "alert_problems": service.alerts.problems, "failover": failover, "money": money,
            "names_of": lambda ids: ", ".join(names.get(i, i) for i in ids), "channels": channels, "down": down,
            "degraded": degraded, "groups": [g for g in groups if g[2]], "bars": history["bars"],
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
        context = {**common(request, service), "c": summary, "checks": checks, "reason": state_reason(health.cause),
                   "group_label": GROUPS.get(summary["group"], summary["group"]),
                   "bar": history["bars"].get(cid, history["empty"]),
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


def channel_summary(service: MonitorService, channel_id: str, uptime: dict[str, float | None]) -> dict[str, Any]:
    """What the page and the API show for one channel, from memory (plus the cached uptime)."""
    channel = service.channels[channel_id]
    health = service.health[channel_id]
    checks = []
    for check in channel.checks:
        latest = service.runner.latest.get((channel_id, check.id or check.kind))
        checks.append({
            "id": check.id, "kind": check.kind, "interval": format_duration(check.interval_seconds),
            "state": health.checks[check.id].state.value if check.id in health.checks else "unknown",
            "ok": latest.result.ok if latest else None,
            "severity": None if latest is None or latest.result.ok else latest.result.severity,
            "error_class": latest.result.error_class if latest else None,
            "error": latest.result.error if latest else None,
            "duration_seconds": round(latest.duration_seconds, 4) if latest else None,
            "last_run_at": latest.at if latest else None,
            "conditions": [c.as_json() for c in latest.conditions] if latest else [],
        })
    # The cause is what put the channel in its state (kept while it recovers), not merely any
    # failing check: an up channel whose status page is stale has nothing to explain.
    bad = health.state in (State.DOWN, State.DEGRADED)
    timed = next((c for c in checks if c["kind"] == "http" and c["duration_seconds"] is not None),
                 next((c for c in checks if c["duration_seconds"] is not None), None))
    return {"id": channel.id, "name": channel.name, "group": channel.group, "state": health.state.value,
            "since": health.since,
            **{f"uptime_{w}": None if uptime.get(w) is None else round(uptime[w], 6) for w in UPTIME_WINDOWS},
            "cause": cause_text(health.cause) if bad and health.cause.get("error") else None,
            "latency_seconds": timed["duration_seconds"] if timed else None, "checks": checks}


def overview_row(service: MonitorService, channel_id: str, uptime: dict[str, float | None], now: float) -> dict[str, Any]:
    """One channel's line on the overview, as text ready to print (the page lists hundreds of them).

    The same figures as channel_summary: the state, the cause while down or degraded, the latest
    duration of the first http check (else of the first check that ran), the uptime.
    """
    channel = service.channels[channel_id]
    health = service.health[channel_id]
    latest = service.runner.latest
    runs = [r for r in (latest.get((channel_id, c.id or c.kind)) for c in channel.checks) if r is not None]
    timed = next((r for r in runs if r.kind == "http"), runs[0] if runs else None)
    bad = health.state in (State.DOWN, State.DEGRADED) and health.cause.get("error")
    return {"id": channel.id, "name": channel.name, "group": channel.group, "state": health.state.value,
            "label": health.state.value.capitalize(), "since": f"for {_ago(health.since, now)}" if health.since else "",
            "cause": _cut(cause_text(health.cause), CAUSE_CHARS) if bad else None,
            "latency": _ms(timed.duration_seconds) if timed else "—",
            "u24": _pct(uptime.get("24h")), "u30": _pct(uptime.get("30d")), "u90": _pct(uptime.get("90d"))}


def cause_text(cause: dict[str, Any]) -> str:
    """'storefront: connection refused by ...' from a stored cause."""
    if not cause.get("error"):
        return "—"
    return f"{cause.get('check')}: {cause['error']}"


def state_reason(cause: Any) -> str | None:
    """Why a channel is in its state, in words: the failing check, the maintenance or the override."""
    if cause.get("error"):
        return cause_text(dict(cause))
    if cause.get("maintenance"):
        return f"planned maintenance: {cause['maintenance']}"
    if cause.get("override_by"):
        return f"set by hand by {cause['override_by']}: {cause.get('reason') or 'no reason given'}"
    return None


def incident_view(incident: Any, now: float, plans: list | None = None) -> dict[str, Any]:
    """One incident for a page: times, how long (so far), the cause in words, the failover plans naming it."""
    end = incident.ended_at
    return {"id": incident.id, "channel": incident.channel, "started_at": incident.started_at, "ended_at": end,
            "duration": _span((end if end is not None else now) - incident.started_at),
            "cause": cause_text(json.loads(incident.cause)), "plans": plans or []}


# --------------------------------------------------------------------------------------------- history

def history_view(engine: Engine, now: float, days: int) -> dict[str, Any]:
    """Every channel's daily history and its bar as markup, drawn once per cache refresh (pages paste them).

    Each bar is a row of spans, one per day, coloured by the day's worst state; the title of each (a
    tooltip) and the bar's aria-label hold only dates and our own figures. The spans of days without
    trouble or without data, the most common, are drawn once per date for all channels.
    """
    history = daily_history(engine, now, days)
    today = floor_to(now, DAY)
    first = today - (days - 1) * DAY
    blank = [Day(d, span=max(0.0, now - today) if d == today else DAY) for d in range(first, today + DAY, DAY)]
    dates = [_fmt_day(d.start) for d in blank]
    plain = {"up": [f'<i class="d-up" title="{d}: 100% up"></i>' for d in dates],
             "none": [f'<i class="d-none" title="{d}: no data"></i>' for d in dates]}
    return {"days": history, "bars": {channel: _bar(ds, dates, plain) for channel, ds in history.items()},
            "empty": _bar(blank, dates, plain)}


def _bar(days: list[Day], dates: list[str], plain: dict[str, list[str]]) -> Markup:
    spans = []
    tally = dict.fromkeys(DAY_WORDS, 0)
    for i, day in enumerate(days):
        _, up, degraded, down, maintenance, unknown, _ = day
        if not (degraded or down or maintenance):
            worst = "up" if up else "none"
            if not unknown or up:
                tally[worst] += 1
                spans.append(plain[worst][i])
                continue
        worst = day.worst
        tally[worst] += 1
        spans.append(_day_span(day, dates[i]))
    parts = [f"{n} {'day' if n == 1 else 'days'} {DAY_WORDS[w]}" for w, n in tally.items() if n]
    label = escape(f"Daily history, last {len(days)} days, oldest first: " + ", ".join(parts))
    return Markup(f'<div class="days" role="img" aria-label="{label}">{"".join(spans)}</div>')


@functools.lru_cache(maxsize=50_000)  # past days do not change: the next refresh finds them here
def _day_span(day: Day, date: str) -> str:
    return f'<i class="d-{day.worst}" title="{date}: {escape(day_figures(day))}"></i>'


def day_figures(day: Day) -> str:
    """'99.31% up, 10m down' for a day's tooltip."""
    if day.results == 0:
        return "no data"
    if day.uptime is None:
        return "maintenance only" if day.n_maintenance else "no state known"
    words = [f"{_pct(day.uptime)} up"]
    for count, what in ((day.n_down, "down"), (day.n_degraded, "degraded"), (day.n_maintenance, "maintenance")):
        if count:
            words.append(f"{_span(day.seconds_in(count))} {what}")
    return ", ".join(words)


# ----------------------------------------------------------------------------------------------- chart

CHART_W, CHART_H = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 88, 14, 14, 34


def latency_chart(check: str, points: list[LatencyPoint], lo: int, now: float) -> dict[str, Any]:
    """The geometry of one check's response-time chart (the template draws it): 25 hourly slots from lo.

    Each point is placed in the middle of its hour; lines break where an hour has no successful result.
    """
    hours = int((floor_to(now, HOUR) - lo) // HOUR) + 1
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    top = _nice_ceiling(max((p.p95 for p in points), default=0.0) * 1000) or 1.0  # milliseconds

    def x(hour: int) -> float:
        return round(PAD_L + (hour - lo + HOUR / 2) / (hours * HOUR) * plot_w, 1)

    def y(seconds: float) -> float:
        return round(PAD_T + plot_h - min(seconds * 1000 / top, 1.0) * plot_h, 1)

    runs: list[list[LatencyPoint]] = []  # consecutive hours
    for p in points:
        if runs and p.hour == runs[-1][-1].hour + HOUR:
            runs[-1].append(p)
        else:
            runs.append([p])
    lines = {name: [" ".join(f"{x(q.hour)},{y(getattr(q, name))}" for q in run) for run in runs] for name in ("avg", "p95")}
    dots = [{"x": x(p.hour), "avg": y(p.avg), "p95": y(p.p95), "hour": p.hour,
             "title": f"{_fmt_hour(p.hour)}: average {_ms(p.avg)}, p95 {_ms(p.p95)}, slowest {_ms(p.max)} ({p.count} successful)"}
            for p in points]
    yticks = [{"y": round(PAD_T + plot_h - f * plot_h, 1), "label": _tick_ms(top * f)} for f in (0, 0.5, 1)]
    xticks = [{"x": x(h) - round(plot_w / hours / 2, 1), "label": time.strftime("%H:%M", time.gmtime(h))}
              for h in range(lo, lo + hours * HOUR, HOUR) if (h // HOUR) % 6 == 0]
    slowest = max(points, key=lambda p: p.p95, default=None)
    summary = "No successful results in the last 24 hours."
    if points:
        total = sum(p.count for p in points)
        mean = sum(p.avg * p.count for p in points) / total
        summary = (f"{len(points)} of {hours} hours with successful results; average {_ms(mean)}; "
                   f"slowest hour by p95 {_fmt_hour(slowest.hour)} at {_ms(slowest.p95)}; "
                   f"latest hour {_fmt_hour(points[-1].hour)}: average {_ms(points[-1].avg)}, p95 {_ms(points[-1].p95)}.")
    return {"id": f"chart-{check}", "w": CHART_W, "h": CHART_H, "left": PAD_L, "right": CHART_W - PAD_R,
            "top": PAD_T, "bottom": CHART_H - PAD_B, "lines": lines, "dots": dots, "yticks": yticks, "xticks": xticks,
            "summary": summary, "points": points, "title": f"Response time of {check}, last 24 hours (UTC)"}


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above value (0 for 0)."""
    if value <= 0:
        return 0.0
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value * (1 - 1e-9))


# ----------------------------------------------------------------------------------------- maintenance

def maintenance_notices(service: MonitorService, now: float, horizon: float,
                        channels: list[str] | None = None) -> list[dict[str, Any]]:
    """Maintenance going on now, then maintenance starting within the horizon, soonest first."""
    notices = []
    for cid in channels if channels is not None else list(service.windows):
        for w in service.windows.get(cid, []):
            start, end = _occurrence(w, now)
            if start is None or end is None or end <= now or start > now + horizon:
                continue
            notices.append({"channel": cid, "name": service.channels[cid].name if cid in service.channels else cid,
                            "reason": w.reason, "by": w.by, "start": start, "end": end, "current": start <= now})
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
        return f"recurring: cron '{w.cron}' ({w.time_zone}), lasting {_span(w.duration or 0)}"
    return f"one-off: {_fmt_time(w.start)} to {_fmt_time(w.end)}"


# ------------------------------------------------------------------------------------------ formatting

def _ago(since: float | None, now: float) -> str:
    """How long since a time, in the largest whole unit: '12s', '5m', '3h', '2d'."""
    if since is None:
        return "—"
    delta = max(0, int(now - since))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta // size}{unit}"
    return f"{delta}s"


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters: longer text is cut and ends with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _span(seconds: float) -> str:
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


def _pct(share: float | None) -> str:
    """A share as a percentage, never rounded up to 100%: 0.99999 -> '99.99%'."""
    if share is None:
        return "—"
    if share >= 1:
        return "100%"
    return f"{math.floor(share * 10000) / 100:.2f}%"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    millis = seconds * 1000
    if millis >= 10_000:
        return f"{seconds:.1f} s"
    return f"{millis:.0f} ms" if millis >= 10 else f"{millis:.1f} ms"


def _tick_ms(millis: float) -> str:
    """An axis label: '0 ms', '2.5 ms', '500 ms', '1.5 s'."""
    if millis >= 1000:
        return f"{millis / 1000:g} s"
    return f"{millis:g} ms"


def _fmt_time(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)) if epoch else "—"


def _fmt_day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _fmt_hour(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:00 UTC", time.gmtime(epoch))


def _state_label(state: str) -> str:
    return state.capitalize()


def money(value: int | None, unit: str) -> str:
    """Minor units as an amount: 208334 PLN -> '2,083.34 PLN'; weights as they are."""
    if value is None:
        return "—"
    return f"{value:,}" if unit == "weight" else f"{value / 100:,.2f} {unit}"
