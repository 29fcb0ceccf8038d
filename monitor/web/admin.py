"""Admin API: maintenance windows, manual overrides and failover decisions, behind a bearer token.

Without `admin_token` in the config the admin API is off (403). A wrong or missing token is 401
and changes nothing. Every change is logged with who and why.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.config_errors import format_loc, problems_from_validation
from monitor.durations import Duration, format_duration
from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.store.persist import load_windows
from monitor.web import failover_api
from monitor.web.keys import SERVICE
from monitor.web.views import fmt_time

log = logging.getLogger("monitor.admin")


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: State = Field(description="down (planned shutdown: failover starts now) or up")
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    expires_in: Duration | None = None


class MaintenanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    duration: Duration
    starts_in: Duration | None = None


def setup_routes(app: web.Application, token: str | None, show_failover: bool = False) -> None:
    """Register /api/admin routes, guarded by the token."""

    def authorize(request: web.Request) -> None:
        if not token:
            raise web.HTTPForbidden(text="the admin API is off; set admin_token in the config (e.g. admin_token: ${CM_ADMIN_TOKEN})")
        sent = request.headers.get("Authorization", "")
        # surrogateescape: a header with non-ASCII bytes is a wrong token (401), not a crash (500)
        if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), f"Bearer {token}".encode()):
            raise web.HTTPUnauthorized(text="send the admin token as 'Authorization: Bearer <token>'",
                                       headers={"WWW-Authenticate": "Bearer"})

    async def parse(request: web.Request, model: type[BaseModel]) -> Any:
        fields = ", ".join(model.model_fields)
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text=f"the body is not JSON; fields: {fields}") from None
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            # The config's wording (no pydantic "Value error, " prefix); the allowed fields follow once, below.
            problems = problems_from_validation(exc, (), lambda _loc: [])
            detail = "; ".join(f"{format_loc(p.loc)}: {p.message}" if p.loc else p.message for p in problems)
            raise web.HTTPBadRequest(text=f"{detail}; fields: {fields}") from None

    def channel_of(request: web.Request) -> str:
        channel = request.match_info["channel"]
        if channel not in request.app[SERVICE].channels:
            raise web.HTTPNotFound(text=f"no channel {channel!r}")
        return channel

    async def set_override(request: web.Request) -> web.Response:
        authorize(request)
        channel, body = channel_of(request), await parse(request, OverrideRequest)
        if body.state not in (State.DOWN, State.UP):
            raise web.HTTPBadRequest(text=f"state {body.state.value!r} cannot be forced; use down or up")
        service = request.app[SERVICE]
        now = service.clock()
        override = Override(body.state, body.by, body.reason, now + body.expires_in if body.expires_in else None)
        await service.set_override(channel, override)
        log.warning("override: %s forced %s by %s: %s", channel, body.state.value, body.by, body.reason,
                    extra={"event": "admin", "channel": channel, "by": body.by, "reason": body.reason})
        return web.json_response({"channel": channel, "state": body.state.value, "until": override.until})

    async def clear_override(request: web.Request) -> web.Response:
        authorize(request)
        channel = channel_of(request)
        by = request.query.get("by", "unknown")
        await request.app[SERVICE].set_override(channel, None)
        log.warning("override: %s lifted by %s", channel, by, extra={"event": "admin", "channel": channel, "by": by})
        return web.json_response({"channel": channel, "override": None})

    async def add_maintenance(request: web.Request) -> web.Response:
        authorize(request)
        channel, body = channel_of(request), await parse(request, MaintenanceRequest)
        service = request.app[SERVICE]
        start = service.clock() + (body.starts_in or 0.0)
        window = Window(body.reason, start=start, end=start + body.duration, by=body.by)
        window_id = await service.add_window(channel, window)
        log.warning("maintenance: %s window %s from %s for %s by %s: %s", channel, window_id, fmt_time(start),
                    format_duration(body.duration), body.by, body.reason,
                    extra={"event": "admin", "channel": channel, "by": body.by, "reason": body.reason})
        return web.json_response({"id": window_id, "channel": channel, "start": window.start, "end": window.end,
                                  "reason": body.reason, "by": body.by})

    async def list_maintenance(request: web.Request) -> web.Response:
        authorize(request)
        channel = channel_of(request)
        service = request.app[SERVICE]
        now = service.clock()
        stored = (await asyncio.to_thread(load_windows, service.engine, now)).get(channel, [])
        configured = [w for w in (m.window() for m in service.channels[channel].maintenance)
                      if w.cron is not None or (w.end or 0) > now]
        return web.json_response({"channel": channel, "windows": [
            {"id": w.id, "reason": w.reason, "by": w.by, "start": w.start, "end": w.end, "cron": w.cron,
             "duration": w.duration, "time_zone": w.time_zone, "active": w.active_at(now)} for w in configured + stored]})

    async def cancel_maintenance(request: web.Request) -> web.Response:
        authorize(request)
        channel = channel_of(request)
        by = request.query.get("by", "unknown")
        try:
            window_id = int(request.match_info["window"])
        except ValueError:
            raise web.HTTPBadRequest(text="the window id is a number; see GET "
                                     f"/api/admin/channels/{channel}/maintenance for the ids") from None
        service = request.app[SERVICE]
        if not 0 < window_id < 2**63 or not await service.remove_window(channel, window_id):  # ids are 64-bit
            raise web.HTTPNotFound(text=f"{channel!r} has no maintenance window {window_id} added through the admin API "
                                   "(windows in the config are changed there); see GET "
                                   f"/api/admin/channels/{channel}/maintenance for the ids")
        log.warning("maintenance: %s window %s cancelled by %s", channel, window_id, by,
                    extra={"event": "admin", "channel": channel, "by": by})
        return web.json_response({"channel": channel, "id": window_id, "cancelled": True,
                                  "state": service.health[channel].state.value})

    failover_api.setup_routes(app, show_failover, authorize, parse)
    async def notifiers(request: web.Request) -> web.Response:
        # What the public pages only call "failing": since when and the notifier's (scrubbed) error.
        authorize(request)
        return web.json_response({"notifiers": request.app[SERVICE].alerts.problem_details()})

    app.router.add_get("/api/admin/notifiers", notifiers)
    app.router.add_put("/api/admin/channels/{channel}/override", set_override)
    app.router.add_delete("/api/admin/channels/{channel}/override", clear_override)
    app.router.add_post("/api/admin/channels/{channel}/maintenance", add_maintenance)
    app.router.add_get("/api/admin/channels/{channel}/maintenance", list_maintenance)
    app.router.add_delete("/api/admin/channels/{channel}/maintenance/{window}", cancel_maintenance)
