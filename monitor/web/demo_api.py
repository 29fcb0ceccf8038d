"""Demo controls: break, heal and replay the simulated channels (demo mode only, on loopback)."""

from __future__ import annotations

from aiohttp import web

from monitor.web.keys import DEMO


async def show(request: web.Request) -> web.Response:
    """GET /demo: each simulated channel's mode, the modes allowed, the replay's end."""
    world = request.app[DEMO]
    return web.json_response(
        {
            "modes": dict(world.modes),
            "modes_allowed": list(world.modes_allowed),
            "replay_until": world.replay_until,
            "channels": dict(world.names),
        }
    )


async def set_mode(request: web.Request) -> web.Response:
    """POST /demo/channels/{channel} {"mode": ...}: break or heal one simulated channel."""
    world = request.app[DEMO]
    channel = request.match_info["channel"]
    try:
        body = await request.json()
        mode = body.get("mode", "ok") if isinstance(body, dict) else None
    except ValueError:
        mode = None
    try:
        await world.set_mode(channel, mode)
    except KeyError:
        raise web.HTTPNotFound(text=f"no demo channel {channel!r}; use one of: {', '.join(world.modes)}") from None
    except ValueError:
        raise web.HTTPBadRequest(text=f'mode {mode!r} is not allowed; send {{"mode": one of {", ".join(world.modes_allowed)}}}') from None
    return web.json_response({"channel": channel, "mode": mode})


async def replay(request: web.Request) -> web.Response:
    """POST /demo/replay-2021 {"minutes": N}: the four Meta channels fail together for N minutes."""
    world = request.app[DEMO]
    try:
        minutes = (await request.json()).get("minutes", 3)
    except (ValueError, AttributeError):
        minutes = None
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0.01 <= minutes <= 360:
        raise web.HTTPBadRequest(text=f'minutes {minutes!r} is not allowed; send {{"minutes": N}} with N a number from 0.01 to 360')
    return web.json_response({"replay_until": await world.replay_2021(minutes)})
