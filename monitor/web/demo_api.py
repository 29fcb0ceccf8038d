"""Demo controls: break, heal and replay the simulated channels (demo mode only)."""
from __future__ import annotations

from aiohttp import web

from monitor.demo import DEMO_CHANNELS, MODES
from monitor.web.keys import DEMO


def setup_routes(app: web.Application) -> None:
    """Register /demo routes. They touch only the simulated channels on loopback."""

    async def show(request: web.Request) -> web.Response:
        world = request.app[DEMO]
        return web.json_response({"modes": world.modes, "modes_allowed": list(MODES),
                                  "replay_until": world.replay_until,
                                  "channels": {c.id: c.name for c in DEMO_CHANNELS}})

    async def set_mode(request: web.Request) -> web.Response:
        world = request.app[DEMO]
        channel = request.match_info["channel"]
        try:
            body = await request.json()
            mode = body.get("mode", "ok") if isinstance(body, dict) else None
        except ValueError:
            mode = None
        try:
            await world.set_mode(channel, mode)  # type: ignore[arg-type]
        except KeyError:
            raise web.HTTPNotFound(text=f"no demo channel {channel!r}; use one of: {', '.join(world.modes)}") from None
        except ValueError:
            raise web.HTTPBadRequest(
                text=f"mode {mode!r} is not allowed; send {{\"mode\": one of {', '.join(MODES)}}}") from None
        return web.json_response({"channel": channel, "mode": mode})

    async def replay(request: web.Request) -> web.Response:
        world = request.app[DEMO]
        try:
            minutes = (await request.json()).get("minutes", 3)
        except (ValueError, AttributeError):
            minutes = None
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0.01 <= minutes <= 360:
            raise web.HTTPBadRequest(text=f'minutes {minutes!r} is not allowed; send {{"minutes": N}} with N a number from 0.01 to 360')
        return web.json_response({"replay_until": await world.replay_2021(minutes)})

    app.router.add_get("/demo", show)
    app.router.add_post("/demo/channels/{channel}", set_mode)
    app.router.add_post("/demo/replay-2021", replay)
