"""The status page, the JSON API for channels, and /healthz."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from monitor.durations import format_duration
from monitor.failover.report import failover_summary
from monitor.health import State
from monitor.service import MonitorService
from monitor.store.queries import UPTIME_WINDOWS, recent_incidents, uptime_windows
from monitor.web.keys import DEMO, SERVICE

UPTIME_CACHE_SECONDS = 15.0  # the status page refreshes often; uptime need not be summed each time
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:
    """Add the safe headers to every response."""
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def setup_routes(app: web.Application) -> None:
    """Register the status page, API and health routes."""
    cache: dict[str, Any] = {"at": 0.0, "uptime": {}}

    async def uptimes(service: MonitorService) -> dict[str, dict[str, float | None]]:
        now = time.monotonic()
        if now - cache["at"] > UPTIME_CACHE_SECONDS:  # from rollups: 24 h, 7 d, 30 d and 90 d per channel
            cache["uptime"] = await asyncio.to_thread(uptime_windows, service.engine, service.clock())
            cache["at"] = now
        return cache["uptime"]

    async def channels_view(request: web.Request) -> list[dict[str, Any]]:
        service = request.app[SERVICE]
        uptime = await uptimes(service)
        return [channel_summary(service, cid, uptime.get(cid, {})) for cid in service.channels]

    @aiohttp_jinja2.template("status.html")
    async def page(request: web.Request) -> dict[str, Any]:
        service = request.app[SERVICE]
        channels = await channels_view(request)
        incidents = [{"channel": i.channel, "started_at": i.started_at, "ended_at": i.ended_at,
                      "cause": cause_text(json.loads(i.cause))}
                     for i in await asyncio.to_thread(recent_incidents, service.engine, 10)]
        down = [c for c in channels if c["state"] == "down"]
        degraded = [c for c in channels if c["state"] == "degraded"]
        failover = None
        if service.config.show_failover and service.failover.enabled:
            failover = await asyncio.to_thread(failover_summary, service.failover, plans=5)
        names = {c["id"]: c["name"] for c in channels}
        return {"alert_problems": service.alerts.problems, "failover": failover, "money": money, "names_of": lambda ids: ", ".join(names.get(i, i) for i in ids), "channels": channels, "down": down, "degraded": degraded,
                "connectivity_lost": service.connectivity_lost, "connectivity_reason": service.guard.reason, "incidents": incidents, "names": {c["id"]: c["name"] for c in channels},
                "now": service.clock(), "ago": _ago, "demo": request.app.get(DEMO), "fmt_time": _fmt_time}

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

    app.router.add_get("/", page)
    app.router.add_get("/api/channels", api_channels)
    app.router.add_get("/healthz", healthz)


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


def cause_text(cause: dict[str, Any]) -> str:
    """'storefront: connection refused by ...' from a stored cause."""
    if not cause.get("error"):
        return "—"
    return f"{cause.get('check')}: {cause['error']}"


def _ago(since: float | None, now: float) -> str:
    """How long since a time, in the largest whole unit: '12s', '5m', '3h', '2d'."""
    if since is None:
        return "—"
    delta = max(0, int(now - since))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta // size}{unit}"
    return f"{delta}s"


def _fmt_time(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)) if epoch else "—"


def money(value: int | None, unit: str) -> str:
    """Minor units as an amount: 208334 PLN -> '2,083.34 PLN'; weights as they are."""
    if value is None:
        return "—"
    return f"{value:,}" if unit == "weight" else f"{value / 100:,.2f} {unit}"
