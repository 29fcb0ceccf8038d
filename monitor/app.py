"""The composition root: create_app() wires the service, the web routes and their lifetimes."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from alerts.base import Notifier
from monitor.config import Config
from monitor.demo import DemoWorld
from monitor.metrics import Metrics
from monitor.service import MonitorService
from monitor.web import admin, api, badges, demo_api, feed, status, statuspage_api
from monitor.web.headers import add_security_headers
from monitor.web.keys import DEMO, SERVICE
from monitor.web.metrics_endpoint import metrics_handler
from probes import PROBES
from probes.base import ProbeKind


def create_app(config: Config, *, probes: Mapping[str, ProbeKind] = PROBES,
               registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time,
               demo: DemoWorld | None = None, flush_interval: float = 0.5,
               notifiers: Sequence[Notifier] | None = None,
               actuators: Mapping[str, Any] | None = None) -> web.Application:
    """Build the web application; the monitor starts and stops with it."""
    registry = registry if registry is not None else CollectorRegistry()
    service = MonitorService(config, probes, Metrics(registry), clock, flush_interval=flush_interval,
                             notifiers=notifiers, actuators=actuators)
    app = web.Application()
    app.on_response_prepare.append(add_security_headers)  # errors raised as exceptions too
    app[SERVICE] = service
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(Path(__file__).parent / "web" / "templates"),
                               autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False)
    # Compiled once at start and kept: the pages keep working if the installed files are replaced or removed
    # under a running service (a pip install into its environment), and a template error shows at start.
    for name in env.loader.list_templates():
        env.get_template(name)
    status.setup_routes(app)
    api.setup_routes(app)
    statuspage_api.setup_routes(app)
    badges.setup_routes(app)
    feed.setup_routes(app)
    admin.setup_routes(app, config.admin_token.get_secret_value() if config.admin_token else None,
                       config.show_failover)
    app.router.add_get("/metrics", metrics_handler(service.metrics.render))
    if demo is not None:
        app[DEMO] = demo
        demo_api.setup_routes(app)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()
        if demo is not None:
            await demo.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
