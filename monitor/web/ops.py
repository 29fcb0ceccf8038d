"""What machines ask of every instance: /healthz (load balancers, orchestrators) and /metrics (Prometheus)."""

from __future__ import annotations

from aiohttp import web

from monitor.web.keys import METRICS, READ_MODEL
from monitor.web.metrics_endpoint import send_metrics


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: 200 while probing and writing work, else 503; the parts in JSON either way."""
    health = request.app[READ_MODEL].health()
    body = {
        "status": "ok" if health.ok else "failing",
        "scheduler_running": health.scheduler_running,
        "writer_queue_depth": health.writer_queue_depth,
        "database_failing": health.database_failing,
        "overloaded": health.overloaded,  # runs are being skipped: channel states frozen (see /api/channels)
        "probes_in_flight": health.probes_in_flight,
    }
    return web.json_response(body, status=200 if health.ok else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    """GET /metrics: the Prometheus text, at most a second old (see monitor/web/metrics_endpoint.py)."""
    return await send_metrics(request, await request.app[METRICS].get())
