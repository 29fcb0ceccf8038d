"""The assembled service on loopback: probing, state changes, storage, status page, metrics, demo."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from monitor.app import create_app
from monitor.demo import META_2021, DemoWorld
from monitor.running import MONITOR
from monitor.store.models import ProbeResultRow
from tests.fakes import FakeChannel, eventually, serve
from tests.support import config as cfg
from tests.support.config import shops_config
from tests.support.service import incidents, state


async def test_channel_goes_down_and_recovers_with_one_incident(tmp_path, aiohttp_client, fake_channel):
    registry = CollectorRegistry()
    app = create_app(shops_config(tmp_path, ("allegro", fake_channel.url)), registry=registry, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    page = await (await client.get("/")).text()
    assert "1 of 1 channels down: Allegro" in page and "home: HTTP 503" in page
    labels = {"channel": "allegro", "check": "home", "kind": "http"}
    metrics = app[MONITOR].metrics
    assert metrics.value("probe_success", labels) == 0
    assert metrics.value("probe_http_status_code", labels) == 503
    assert metrics.value("channel_monitor_channel_state", {"channel": "allegro", "state": "down"}) == 1
    assert metrics.value("channel_monitor_probe_failures_total", {**labels, "error_class": "http_status"}) >= 2
    # Read from the database once the writer has stored the incident, not at the next minute's reading.
    await eventually(lambda: metrics.value("channel_monitor_incident_open", {"channel": "allegro"}) == 1)
    fake_channel.mode = "ok"
    await eventually(lambda: state(app, "allegro") == "up")
    await eventually(lambda: len(incidents(app)) == 1 and incidents(app)[0].ended_at is not None)
    await eventually(lambda: metrics.value("channel_monitor_incident_open", {"channel": "allegro"}) == 0)
    assert '"error": "HTTP 503"' in incidents(app)[0].cause


async def test_api_healthz_and_metrics(tmp_path, aiohttp_client, fake_channel):
    app = create_app(shops_config(tmp_path, ("amazon", fake_channel.url)), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "amazon") == "up")
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    await eventually(lambda: app[MONITOR].metrics.results_written._value.get() > 0)
    [channel] = (await (await client.get("/api/channels")).json())["channels"]
    assert channel["state"] == "up" and channel["checks"][0]["ok"] is True
    metrics = await (await client.get("/metrics")).text()
    assert 'probe_success{channel="amazon",check="home",kind="http"} 1\n' in metrics
    assert "probe_duration_seconds{" in metrics and "channel_monitor_scheduler_lag_seconds_bucket" in metrics
    page = await client.get("/")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


async def test_stuck_target_does_not_delay_other_checks(tmp_path, aiohttp_client, aiohttp_server):
    stuck, fast = FakeChannel(), await serve(aiohttp_server, FakeChannel())
    stuck.mode = "hang"
    await serve(aiohttp_server, stuck)
    app = create_app(shops_config(tmp_path, ("stuck", stuck.url), ("fast", fast.url)), flush_interval=0.05)
    await aiohttp_client(app)
    await eventually(lambda: fast.hits >= 7, timeout=2.0)  # every 200 ms, undisturbed by the hanging neighbour
    await eventually(lambda: state(app, "stuck") == "down")
    latest = app[MONITOR].pipeline.latest[("stuck", "home")]
    assert latest.result.error_class == "timeout" and latest.duration_seconds < 0.3
    assert state(app, "stuck") == "down" and state(app, "fast") == "up"


async def test_status_page_escapes_probe_text(tmp_path, aiohttp_client, fake_channel):
    config = cfg.config([cfg.shop_channel("shop", fake_channel.url, body_not_contains=["<script>alert(1)</script>"])], data_dir=tmp_path)
    fake_channel.body = "<button>Add to cart</button><script>alert(1)</script>"
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "shop") == "down")
    page = await (await client.get("/")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page


async def test_restart_resumes_down_state_without_a_second_incident(tmp_path, aiohttp_client, fake_channel):
    config = shops_config(tmp_path, ("fb", fake_channel.url))
    fake_channel.mode = "error"
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: len(incidents(app)) == 1)
    await client.close()  # stops the service: flushes and closes the database
    again = create_app(config, flush_interval=0.05)
    await aiohttp_client(again)
    assert state(again, "fb") == "down"  # before any new probe has run
    before = fake_channel.hits
    await eventually(lambda: fake_channel.hits >= before + 4)
    assert len(incidents(again)) == 1


async def test_shutdown_flushes_buffered_results(tmp_path, aiohttp_client, fake_channel):
    app = create_app(shops_config(tmp_path, ("ceneo", fake_channel.url)), flush_interval=60)  # only shutdown flushes
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: fake_channel.hits >= 3)
    await client.close()
    stored_probes = monitor.metrics.probes.get(("ceneo", "home", "http"))
    with monitor.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(ProbeResultRow)).scalar_one()
    assert stored == stored_probes >= 3


async def test_demo_break_heal_and_replay_2021(tmp_path, aiohttp_client):
    world = DemoWorld()
    await world.start()
    config = world.config(interval="200ms", timeout="150ms").model_copy(update={"data_dir": str(tmp_path)})
    app = create_app(config, demo=world, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: all(h.state.value == "up" for h in app[MONITOR].book.health.values()))
    assert (await client.post("/demo/channels/allegro", json={"mode": "maintenance"})).status == 200
    await eventually(lambda: state(app, "allegro") == "down")
    assert "przerwa techniczna" in app[MONITOR].pipeline.latest[("allegro", "storefront")].result.error
    await client.post("/demo/channels/allegro", json={"mode": "ok"})
    await eventually(lambda: state(app, "allegro") == "up")
    replay = await client.post("/demo/replay-2021", json={"minutes": 0.04})
    assert replay.status == 200
    await eventually(lambda: all(state(app, c) == "down" for c in META_2021))
    assert all(state(app, c) == "up" for c in ("allegro", "amazon", "own-shop", "ceneo"))
    dns = app[MONITOR].pipeline.latest[("facebook-shop", "dns")].result
    assert (dns.error_class, dns.facts["rcode"]) == ("dns_servfail", "SERVFAIL")
    assert dns.error.startswith("SERVFAIL from 127.0.0.1:") and dns.error.endswith(" for facebook.com")
    assert app[MONITOR].pipeline.latest[("facebook-shop", "storefront")].result.ok  # DNS alone explains it
    [facebook] = [c for c in (await (await client.get("/api/channels")).json())["channels"] if c["id"] == "facebook-shop"]
    assert facebook["cause"].startswith("dns: SERVFAIL from 127.0.0.1:")
    again = await client.post("/demo/replay-2021", json={"minutes": 0.04})  # a second replay extends the first
    assert (await again.json())["replay_until"] > (await replay.json())["replay_until"]
    await client.post("/demo/channels/messenger", json={"mode": "error"})  # broken by hand during the replay
    await eventually(lambda: all(state(app, c) == "up" for c in META_2021 if c != "messenger"), timeout=10)
    assert world.modes["messenger"] == "error" and world.replay_until is None
    bad = await client.post("/demo/channels/allegro", json={"mode": "explode"})
    assert bad.status == 400 and "mode 'explode' is not allowed" in await bad.text()
    assert (await client.post("/demo/channels/nope", json={"mode": "error"})).status == 404


async def test_pages_survive_the_installed_templates_going_away(tmp_path, aiohttp_client, fake_channel):
    import aiohttp_jinja2

    app = create_app(shops_config(tmp_path, ("allegro", fake_channel.url)), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    # A pip install into the service's environment removed the installed copy of the templates.
    aiohttp_jinja2.get_env(app).loader.searchpath = [str(tmp_path / "gone")]
    for path in ("/", "/channels/allegro", "/incidents", "/channels/nope"):
        response = await client.get(path)
        assert response.status in (200, 404) and "<html" in await response.text(), path
