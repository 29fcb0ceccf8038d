"""The web app of a process that keeps no channel states (--role probe, --role relay): /healthz and /metrics.

Orchestrators ask each process whether it works (/healthz: 200, or 503 with what is failing) and Prometheus
scrapes its own metrics (a prober's probe timings, a relay's deliveries). The status pages and the API are
served by the decider and the web instances (docs/distributed.md).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from monitor.web.headers import add_security_headers
from monitor.web.metrics_endpoint import MetricsBody, send_metrics

BODY = web.AppKey("metrics_body", MetricsBody)


def role_app(role: str, healthy: Callable[[], bool], render_metrics: Callable[[], bytes], *, ready: bool = True) -> web.Application:
    """/healthz (alive: 200 while its parts work), /readyz (should get traffic: also 503 for a standby) and /metrics."""
    app = web.Application()
    app.on_response_prepare.append(add_security_headers)
    app[BODY] = MetricsBody(render_metrics)

    async def healthz(_request: web.Request) -> web.Response:
        ok = healthy()
        return web.json_response({"status": "ok" if ok else "failing", "role": role}, status=200 if ok else 503)

    async def metrics(request: web.Request) -> web.StreamResponse:
        return await send_metrics(request, await request.app[BODY].get())

    async def readyz(request: web.Request) -> web.Response:
        if not ready:
            return web.json_response({"status": "standby", "role": role}, status=503)
        return await healthz(request)

    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    return app
