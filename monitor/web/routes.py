"""Every route of the web app in one table, and web_app(): the web layer built around a read model.

The handlers are module-level functions that read only `request.app`: the read model, the admin actions,
the settings and the state the app keeps (the figure caches, the Statuspage snapshot, the /metrics body).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

import aiohttp_jinja2
import jinja2
from aiohttp import web

from monitor.web import admin, api, badges, demo_api, failover_api, feed, ops, pages, slack_interactions, statuspage_api
from monitor.web.headers import add_security_headers
from monitor.web.keys import ADMIN, DEMO, HISTORY, METRICS, READ_MODEL, SETTINGS, UPTIME
from monitor.web.metrics_endpoint import MetricsBody
from monitor.web.read_model import AdminActions, AdminUnavailable, DemoControls, ReadModel, WebSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TEMPLATES = Path(__file__).parent / "templates"


class Route(NamedTuple):
    method: str
    path: str
    handler: Handler
    name: str  # the resource's name (routes on one path share it), for url_for
    demo: bool = False  # served only in demo mode


ADMIN_CHANNEL = "/api/admin/channels/{channel}"
V2 = "/api/v2"
ROUTES: tuple[Route, ...] = (
    # The status pages
    Route("GET", "/", pages.overview, "overview"),
    Route("GET", "/channels/{channel}", pages.channel_page, "channel"),
    Route("GET", "/incidents", pages.incidents_page, "incidents"),
    Route("GET", "/favicon.ico", pages.favicon, "favicon"),
    # Our JSON API
    Route("GET", "/api/channels", api.channels, "api.channels"),
    Route("GET", "/api/channels/{channel}", api.one_channel, "api.channel"),
    Route("GET", "/api/channels/{channel}/results", api.results, "api.results"),
    Route("GET", "/api/incidents", api.incidents, "api.incidents"),
    Route("GET", "/api/uptime", api.uptime, "api.uptime"),
    Route("GET", "/api/failover", failover_api.summary, "api.failover"),
    # Statuspage v2-compatible JSON
    Route("GET", f"{V2}/summary.json", statuspage_api.summary, "v2.summary"),
    Route("GET", f"{V2}/status.json", statuspage_api.status_json, "v2.status"),
    Route("GET", f"{V2}/components.json", statuspage_api.components_json, "v2.components"),
    Route("GET", f"{V2}/incidents.json", statuspage_api.incidents_json, "v2.incidents"),
    Route("GET", f"{V2}/incidents/unresolved.json", statuspage_api.unresolved_json, "v2.unresolved"),
    Route("GET", f"{V2}/scheduled-maintenances.json", statuspage_api.maintenances_json, "v2.maintenances"),
    Route("GET", f"{V2}/scheduled-maintenances/upcoming.json", statuspage_api.upcoming_json, "v2.upcoming"),
    Route("GET", f"{V2}/scheduled-maintenances/active.json", statuspage_api.active_json, "v2.active"),
    # Badges and the feed
    Route("GET", "/badge/{channel}/status.svg", badges.state_badge, "badge.status"),
    Route("GET", "/badge/{channel}/uptime-30d.svg", badges.uptime_badge, "badge.uptime"),
    Route("GET", "/feed.atom", feed.feed, "feed"),
    # For machines watching this instance
    Route("GET", "/healthz", ops.healthz, "healthz"),
    Route("GET", "/readyz", ops.healthz, "readyz"),  # the same here: a process serving pages is ready when healthy
    Route("GET", "/metrics", ops.metrics, "metrics"),
    # The admin API (bearer token)
    Route("GET", "/api/admin/notifiers", admin.notifiers, "admin.notifiers"),
    Route("PUT", f"{ADMIN_CHANNEL}/override", admin.set_override, "admin.override"),
    Route("DELETE", f"{ADMIN_CHANNEL}/override", admin.clear_override, "admin.override"),
    Route("POST", f"{ADMIN_CHANNEL}/maintenance", admin.add_maintenance, "admin.maintenance"),
    Route("GET", f"{ADMIN_CHANNEL}/maintenance", admin.list_maintenance, "admin.maintenance"),
    Route("DELETE", f"{ADMIN_CHANNEL}/maintenance/{{window}}", admin.cancel_maintenance, "admin.window"),
    Route("POST", "/api/admin/failover/plans/{plan}/approve", failover_api.approve, "admin.approve"),
    Route("POST", "/api/admin/failover/plans/{plan}/reject", failover_api.reject, "admin.reject"),
    Route("POST", "/api/admin/failover/{kind:promotions|notices}/{owner}/freeze", failover_api.freeze, "admin.freeze"),
    Route("POST", "/api/admin/failover/{kind:promotions|notices}/{owner}/unfreeze", failover_api.unfreeze, "admin.unfreeze"),
    # Slack's interactivity URL: clicks on failover messages' buttons (signed by Slack, not the admin token)
    Route("POST", "/slack/interactions", slack_interactions.interactions, "slack.interactions"),
    # Demo controls (demo mode only)
    Route("GET", "/demo", demo_api.show, "demo", demo=True),
    Route("POST", "/demo/channels/{channel}", demo_api.set_mode, "demo.channel", demo=True),
    Route("POST", "/demo/replay-2021", demo_api.replay, "demo.replay", demo=True),
)


def setup_routes(app: web.Application, *, demo: bool = False) -> None:
    """Register the table (demo routes only with `demo`) and the state its handlers keep; app[READ_MODEL] is set."""
    app[UPTIME], app[HISTORY] = pages.figure_caches()
    app[statuspage_api.SNAPSHOT] = statuspage_api.Snapshot()
    app[METRICS] = MetricsBody(app[READ_MODEL].render_metrics)
    app.on_shutdown.append(_finish_refreshes)
    for route in ROUTES:
        if route.demo and not demo:
            continue
        if route.method == "GET":  # and HEAD, as aiohttp answers it for every GET route
            app.router.add_get(route.path, route.handler, name=route.name)
        else:
            app.router.add_route(route.method, route.path, route.handler, name=route.name)


async def _finish_refreshes(app: web.Application) -> None:
    refreshing = (c.refreshing for c in (app[UPTIME], app[HISTORY]) if c.refreshing)
    await asyncio.gather(*refreshing, return_exceptions=True)


@web.middleware
async def _admin_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An admin command no decider could carry out (a web instance's): 503 with what to do."""
    try:
        return await handler(request)
    except AdminUnavailable as exc:
        raise web.HTTPServiceUnavailable(text=str(exc)) from None


def web_app(
    read_model: ReadModel, admin_actions: AdminActions, settings: WebSettings, *, demo: DemoControls | None = None
) -> web.Application:
    """The web application around a read model: security headers, templates, the routes."""
    app = web.Application(middlewares=[_admin_unavailable])
    app.on_response_prepare.append(add_security_headers)  # errors raised as exceptions too
    app[READ_MODEL], app[ADMIN], app[SETTINGS] = read_model, admin_actions, settings
    if demo is not None:
        app[DEMO] = demo
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False
    )
    # Compiled once at start and kept: the pages keep working if the installed files are replaced or removed
    # under a running service (a pip install into its environment), and a template error shows at start.
    for name in env.loader.list_templates():  # type: ignore[union-attr]
        env.get_template(name)
    setup_routes(app, demo=demo is not None)
    return app
