"""Our own JSON API (docs/openapi.yaml): the channels, one channel, its results, incidents and uptime."""

from __future__ import annotations

import json

from aiohttp import web

from monitor.web.keys import READ_MODEL, UPTIME
from monitor.web.read_model import UPTIME_WINDOWS, Incident
from monitor.web.views import cause_text, channel_summary

MAX_LIMIT = 1000


def _no_channel(channel: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": f"no channel {channel!r}"}), content_type="application/json")


def _channel(request: web.Request, channel: str) -> str:
    """The channel named, else a 404 in JSON."""
    if channel not in request.app[READ_MODEL].channels():
        raise _no_channel(channel)
    return channel


def _number(request: web.Request, name: str, default: float | None, low: float, high: float) -> float | None:
    """A number from the query string within [low, high], else a 400 in JSON."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name}={raw!r}: give a number from {low:g} to {high:g}"}), content_type="application/json"
        )
    return value


async def channels(request: web.Request) -> web.Response:
    """GET /api/channels: every channel with its checks, and what keeps the monitor from judging them."""
    model = request.app[READ_MODEL]
    uptime = await request.app[UPTIME].get(model)
    connectivity = model.connectivity()
    return web.json_response(
        {
            "connectivity": {
                "lost": connectivity.lost,
                "reason": connectivity.reason,
                "overloaded": connectivity.overloaded,
                "overload_reason": connectivity.overload_reason,
            },
            "alert_problems": model.alert_problems(),
            "channels": [channel_summary(model, cid, uptime.get(cid, {})) for cid in model.channels()],
        }
    )


async def one_channel(request: web.Request) -> web.Response:
    """GET /api/channels/{channel}."""
    model = request.app[READ_MODEL]
    channel = _channel(request, request.match_info["channel"])
    uptime = await request.app[UPTIME].get(model)
    return web.json_response(channel_summary(model, channel, uptime.get(channel, {})))


async def results(request: web.Request) -> web.Response:
    """GET /api/channels/{channel}/results?check=&limit=&before=: its latest results, paged by time."""
    model = request.app[READ_MODEL]
    channel = _channel(request, request.match_info["channel"])
    limit = int(_number(request, "limit", 100, 1, MAX_LIMIT) or 100)
    before = _number(request, "before", None, 0, 1e12)
    rows = await model.results(channel, request.query.get("check"), limit, before)
    return web.json_response({"channel": channel, "results": rows, "next_before": rows[-1]["at"] if len(rows) == limit else None})


async def incidents(request: web.Request) -> web.Response:
    """GET /api/incidents?channel=&open=&limit=: the latest incidents, newest first."""
    model = request.app[READ_MODEL]
    limit = int(_number(request, "limit", 50, 1, MAX_LIMIT) or 50)
    channel = _channel(request, request.query["channel"]) if request.query.get("channel") else None
    rows = await model.incidents(limit, channel=channel, open_only=request.query.get("open") in ("1", "true"))
    now = model.now()
    return web.json_response({"incidents": [_incident(i, now) for i in rows]})


def _incident(i: Incident, now: float) -> dict:
    cause = json.loads(i.cause)
    return {
        "id": i.id,
        "channel": i.channel,
        "started_at": i.started_at,
        "ended_at": i.ended_at,
        "duration_seconds": (i.ended_at or now) - i.started_at,
        "cause": cause,
        "cause_text": cause_text(cause) or "—",
    }


async def uptime(request: web.Request) -> web.Response:
    """GET /api/uptime: every channel's uptime by window."""
    model = request.app[READ_MODEL]
    values = await request.app[UPTIME].get(model)
    return web.json_response(
        {"windows": list(UPTIME_WINDOWS), "channels": {c: {w: values.get(c, {}).get(w) for w in UPTIME_WINDOWS} for c in model.channels()}}
    )
