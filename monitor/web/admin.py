"""Admin API: maintenance windows, manual overrides and failover decisions, behind a bearer token.

Without `admin_token` in the config the admin API is off (403). A wrong or missing token is 401
and changes nothing. Every change is logged with who and why.
"""
from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.durations import Duration, format_duration
from monitor.health import Override, State
from monitor.maintenance import Window
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
        try:
            return model.model_validate(await request.json())
        except ValueError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
                if isinstance(exc, ValidationError) else "the body is not JSON"
            raise web.HTTPBadRequest(text=f"{detail}; fields: {', '.join(model.model_fields)}") from None

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
        await service.add_window(channel, window)
        log.warning("maintenance: %s from %s for %s by %s: %s", channel, fmt_time(start), format_duration(body.duration),
                    body.by, body.reason,
                    extra={"event": "admin", "channel": channel, "by": body.by, "reason": body.reason})
        return web.json_response({"channel": channel, "start": window.start, "end": window.end, "reason": body.reason})

    failover_api.setup_routes(app, show_failover, authorize, parse)
    app.router.add_put("/api/admin/channels/{channel}/override", set_override)
    app.router.add_delete("/api/admin/channels/{channel}/override", clear_override)
    app.router.add_post("/api/admin/channels/{channel}/maintenance", add_maintenance)
