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

from monitor.config_errors import format_loc, problems_from_validation
from monitor.core.durations import Duration, format_duration
from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.web.keys import ADMIN, READ_MODEL, SETTINGS
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


def authorize(request: web.Request) -> None:
    """Let the request through only with the admin token: 403 when the admin API is off, 401 when it is wrong."""
    token = request.app[SETTINGS].admin_token
    if not token:
        raise web.HTTPForbidden(text="the admin API is off; set admin_token in the config (e.g. admin_token: ${CM_ADMIN_TOKEN})")
    sent = request.headers.get("Authorization", "")
    # surrogateescape: a header with non-ASCII bytes is a wrong token (401), not a crash (500)
    if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), f"Bearer {token}".encode()):
        raise web.HTTPUnauthorized(text="send the admin token as 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})


async def parse(request: web.Request, model: type[BaseModel]) -> Any:
    """The JSON body as `model`, else a 400 that says what is wrong and which fields there are."""
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


def _channel(request: web.Request) -> str:
    channel = request.match_info["channel"]
    if channel not in request.app[READ_MODEL].channels():
        raise web.HTTPNotFound(text=f"no channel {channel!r}")
    return channel


async def set_override(request: web.Request) -> web.Response:
    """PUT /api/admin/channels/{channel}/override: force a channel down or up, for a while or until lifted."""
    authorize(request)
    channel, body = _channel(request), await parse(request, OverrideRequest)
    if body.state not in (State.DOWN, State.UP):
        raise web.HTTPBadRequest(text=f"state {body.state.value!r} cannot be forced; use down or up")
    now = request.app[READ_MODEL].now()
    override = Override(body.state, body.by, body.reason, now + body.expires_in if body.expires_in else None)
    await request.app[ADMIN].set_override(channel, override)
    log.warning(
        "override: %s forced %s by %s: %s",
        channel,
        body.state.value,
        body.by,
        body.reason,
        extra={"event": "admin", "channel": channel, "by": body.by, "reason": body.reason},
    )
    return web.json_response({"channel": channel, "state": body.state.value, "until": override.until})


async def clear_override(request: web.Request) -> web.Response:
    """DELETE /api/admin/channels/{channel}/override?by=: lift the override."""
    authorize(request)
    channel = _channel(request)
    by = request.query.get("by", "unknown")
    await request.app[ADMIN].set_override(channel, None)
    log.warning("override: %s lifted by %s", channel, by, extra={"event": "admin", "channel": channel, "by": by})
    return web.json_response({"channel": channel, "override": None})


async def add_maintenance(request: web.Request) -> web.Response:
    """POST /api/admin/channels/{channel}/maintenance: a one-off window, now or later."""
    authorize(request)
    channel, body = _channel(request), await parse(request, MaintenanceRequest)
    start = request.app[READ_MODEL].now() + (body.starts_in or 0.0)
    window = Window(body.reason, start=start, end=start + body.duration, by=body.by)
    window_id = await request.app[ADMIN].add_window(channel, window)
    log.warning(
        "maintenance: %s window %s from %s for %s by %s: %s",
        channel,
        window_id,
        fmt_time(start),
        format_duration(body.duration),
        body.by,
        body.reason,
        extra={"event": "admin", "channel": channel, "by": body.by, "reason": body.reason},
    )
    return web.json_response(
        {"id": window_id, "channel": channel, "start": window.start, "end": window.end, "reason": body.reason, "by": body.by}
    )


async def list_maintenance(request: web.Request) -> web.Response:
    """GET /api/admin/channels/{channel}/maintenance: its windows, configured and added, with their ids."""
    authorize(request)
    channel = _channel(request)
    now = request.app[READ_MODEL].now()
    windows = await request.app[ADMIN].maintenance_windows(channel)
    return web.json_response(
        {
            "channel": channel,
            "windows": [
                {
                    "id": w.id,
                    "reason": w.reason,
                    "by": w.by,
                    "start": w.start,
                    "end": w.end,
                    "cron": w.cron,
                    "duration": w.duration,
                    "time_zone": w.time_zone,
                    "active": w.active_at(now),
                }
                for w in windows
            ],
        }
    )


async def cancel_maintenance(request: web.Request) -> web.Response:
    """DELETE /api/admin/channels/{channel}/maintenance/{window}?by=: cancel a window added through this API."""
    authorize(request)
    channel = _channel(request)
    by = request.query.get("by", "unknown")
    try:
        window_id = int(request.match_info["window"])
    except ValueError:
        raise web.HTTPBadRequest(text=f"the window id is a number; see GET /api/admin/channels/{channel}/maintenance for the ids") from None
    if not 0 < window_id < 2**63 or not await request.app[ADMIN].remove_window(channel, window_id):  # ids are 64-bit
        raise web.HTTPNotFound(
            text=f"{channel!r} has no maintenance window {window_id} added through the admin API "
            "(windows in the config are changed there); see GET "
            f"/api/admin/channels/{channel}/maintenance for the ids"
        )
    log.warning("maintenance: %s window %s cancelled by %s", channel, window_id, by, extra={"event": "admin", "channel": channel, "by": by})
    return web.json_response(
        {"channel": channel, "id": window_id, "cancelled": True, "state": request.app[READ_MODEL].status(channel).state.value}
    )


async def notifiers(request: web.Request) -> web.Response:
    """GET /api/admin/notifiers: what the public pages only call "failing": since when and the (scrubbed) error."""
    authorize(request)
    return web.json_response({"notifiers": request.app[ADMIN].notifier_details()})
