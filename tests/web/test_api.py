"""Our own JSON API: one channel, its recent results (paged), incidents and uptime."""

from __future__ import annotations

from monitor.app import create_app
from monitor.running import MONITOR
from tests.fakes import eventually
from tests.support import ROOT
from tests.support.config import shops_config
from tests.support.service import state


async def test_channel_results_incidents_and_uptime(tmp_path, aiohttp_client, fake_channel):
    app = create_app(shops_config(tmp_path, ("allegro", fake_channel.url)), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    one = await (await client.get("/api/channels/allegro")).json()
    assert (one["id"], one["state"], one["checks"][0]["id"]) == ("allegro", "down", "home")
    assert set(one) >= {"uptime_24h", "uptime_30d", "uptime_90d", "cause", "latency_seconds"}

    async def results(query: str = "") -> dict:
        return await (await client.get(f"/api/channels/allegro/results{query}")).json()

    first = await results("?limit=2")
    assert len(first["results"]) == 2 and first["results"][0]["at"] >= first["results"][1]["at"]
    failed = first["results"][0]
    assert (failed["ok"], failed["error_class"], failed["check"]) == (False, "http_status", "home")
    older = await results(f"?limit=2&before={first['next_before']}")
    assert all(r["at"] < first["next_before"] for r in older["results"])
    assert (await client.get("/api/channels/allegro/results?limit=0")).status == 400
    assert (await client.get("/api/channels/allegro/results?limit=abc")).status == 400
    assert (await client.get("/api/channels/nope/results")).status == 404

    await eventually(lambda: app[MONITOR].writer.depth == 0)
    incidents = await (await client.get("/api/incidents?channel=allegro&open=true")).json()
    [incident] = incidents["incidents"]
    assert incident["ended_at"] is None and incident["cause"]["error"] == "HTTP 503"
    assert incident["cause_text"] == "home: HTTP 503"
    uptime = await (await client.get("/api/uptime")).json()
    assert uptime["windows"] == ["24h", "7d", "30d", "90d"] and set(uptime["channels"]["allegro"]) == set(uptime["windows"])


def test_the_openapi_file_documents_every_json_route_and_nothing_else():
    """docs/openapi.yaml is checked against the routes the app really serves (pages and the demo aside)."""
    import re

    import yaml

    from monitor.config import parse_config

    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert spec["openapi"].startswith("3.")
    app = create_app(parse_config("channels: [{id: a, name: A, checks: [{kind: http, target: 'https://a.example/'}]}]"))
    served = set()
    for resource in app.router.resources():
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", resource.canonical)
        for route in resource:
            if route.method != "HEAD":
                served.add((path, route.method.lower()))
    pages = {p for p in served if not p[0].startswith(("/api", "/badge", "/feed", "/healthz", "/readyz", "/metrics"))}
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == served - pages
