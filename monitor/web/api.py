"""Our own JSON API beyond /api/channels: one channel, its results, incidents and uptime (docs/openapi.yaml)."""
from __future__ import annotations

import asyncio
import json

from aiohttp import web
from sqlalchemy import select

from monitor.store.models import IncidentRow
from monitor.store.queries import UPTIME_WINDOWS
from monitor.store.results import recent_results
from monitor.web.keys import SERVICE, UPTIME
from monitor.web.views import cause_text, channel_summary

MAX_LIMIT = 1000


def setup_routes(app: web.Application) -> None:
    """Register /api/channels/{id}, /api/channels/{id}/results, /api/incidents and /api/uptime."""

    def channel_of(request: web.Request) -> str:
        channel = request.match_info["channel"]
        if channel not in request.app[SERVICE].channels:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no channel {channel!r}"}), content_type="application/json")
        return channel

    def number(request: web.Request, name: str, default: float | None, low: float, high: float) -> float | None:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"{name}={raw!r}: give a number from {low:g} to {high:g}"}),
                                     content_type="application/json")
        return value

    async def one_channel(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        channel = channel_of(request)
        uptime = await request.app[UPTIME].get(service)
        return web.json_response(channel_summary(service, channel, uptime.get(channel, {})))

    async def results(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        channel = channel_of(request)
        limit = int(number(request, "limit", 100, 1, MAX_LIMIT) or 100)
        before = number(request, "before", None, 0, 1e12)
        rows = await asyncio.to_thread(recent_results, service.engine, channel, request.query.get("check"), limit, before)
        return web.json_response({"channel": channel, "results": rows,
                                  "next_before": rows[-1]["at"] if len(rows) == limit else None})

    async def incidents(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        limit = int(number(request, "limit", 50, 1, MAX_LIMIT) or 50)
        query = select(IncidentRow).order_by(IncidentRow.started_at.desc()).limit(limit)
        if request.query.get("channel"):
            query = query.where(IncidentRow.channel == channel_of_query(request))
        if request.query.get("open") in ("1", "true"):
            query = query.where(IncidentRow.ended_at.is_(None))

        def load() -> list[dict]:
            with service.engine.connect() as conn:
                return [{"id": i.id, "channel": i.channel, "started_at": i.started_at, "ended_at": i.ended_at,
                         "duration_seconds": (i.ended_at or service.clock()) - i.started_at,
                         "cause": json.loads(i.cause), "cause_text": cause_text(json.loads(i.cause)) or "—"}
                        for i in conn.execute(query)]
        return web.json_response({"incidents": await asyncio.to_thread(load)})

    def channel_of_query(request: web.Request) -> str:
        channel = request.query["channel"]
        if channel not in request.app[SERVICE].channels:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no channel {channel!r}"}), content_type="application/json")
        return channel

    async def uptime(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        values = await request.app[UPTIME].get(service)
        return web.json_response({"windows": list(UPTIME_WINDOWS), "channels": {
            c: {w: values.get(c, {}).get(w) for w in UPTIME_WINDOWS} for c in service.channels}})

    async def favicon(_request: web.Request) -> web.Response:
        # Browsers ask for it on every page; "no content" keeps their consoles free of 404 errors.
        return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})

    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/api/channels/{channel}", one_channel)
    app.router.add_get("/api/channels/{channel}/results", results)
    app.router.add_get("/api/incidents", incidents)
    app.router.add_get("/api/uptime", uptime)
