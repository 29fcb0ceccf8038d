"""A flapping channel end to end: one incident, one Slack thread titled as flapping, and visible as flapping."""

from __future__ import annotations

from sqlalchemy import select

from monitor.app import create_app
from monitor.config import parse_config
from monitor.running import MONITOR
from monitor.store.models import IncidentRow
from tests.fakes import FakeChannel, eventually
from tests.fakes_slack import TOKEN, FakeSlack


async def test_an_ok_503_channel_is_one_incident_and_one_thread_titled_flapping(tmp_path, aiohttp_server, aiohttp_client):
    shops = {"allegro": FakeChannel(), "shop": FakeChannel()}
    urls = {c: str((await aiohttp_server(s.app)).make_url("/")) for c, s in shops.items()}
    slack = FakeSlack()
    slack.url = str((await aiohttp_server(slack.app, access_log=None)).make_url("/"))
    lines = [
        f"data_dir: {tmp_path}",
        "allow_networks: [127.0.0.0/8]",
        "defaults: {interval: 200ms, timeout: 150ms, fail_threshold: 1, recover_threshold: 1}",
        "channels:",
    ]
    lines += [f"  - {{id: {c}, name: {c.title()}, checks: [{{kind: http, target: '{u}'}}]}}" for c, u in urls.items()]
    lines += [
        "alerts:",
        "  group_wait: 300ms",
        "  notifiers:",
        f"    - {{id: slack, kind: slack, token: '{TOKEN}', channel: '#ops', base_url: '{slack.url}api/', min_interval: 0}}",
    ]
    app = create_app(parse_config("\n".join(lines)), flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
    shops["allegro"].mode = "alternate"
    await eventually(lambda: monitor.book.health["allegro"].flap.flapping, timeout=10)
    await eventually(lambda: shops["allegro"].hits >= 40, timeout=15)  # 20 ok/503 cycles
    await eventually(lambda: slack.top_level() and "flapping" in slack.top_level()[0].text)
    [root] = slack.top_level()
    assert root.text.startswith("Allegro is flapping (")
    with monitor.engine.connect() as conn:
        incidents = conn.execute(select(IncidentRow.channel)).scalars().all()
    assert incidents == ["allegro"]
    assert b'channel_monitor_channel_flapping{channel="allegro"} 1' in monitor.metrics.render()
    assert b'channel_monitor_channel_flapping{channel="shop"} 0' in monitor.metrics.render()
    assert client is not None


async def test_flapping_shows_on_the_pages_the_api_and_summary_json(tmp_path, aiohttp_server, aiohttp_client):
    shop = FakeChannel()
    url = str((await aiohttp_server(shop.app)).make_url("/"))
    lines = [
        f"data_dir: {tmp_path}",
        "allow_networks: [127.0.0.0/8]",
        "defaults: {interval: 200ms, timeout: 150ms, fail_threshold: 1, recover_threshold: 1}",
        f"channels: [{{id: allegro, name: Allegro, checks: [{{kind: http, target: '{url}'}}]}}]",
    ]
    app = create_app(parse_config("\n".join(lines)), flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: monitor.book.health["allegro"].state.value == "up")
    shop.mode = "alternate"
    await eventually(lambda: monitor.book.health["allegro"].flap.flapping, timeout=10)
    [channel] = (await (await client.get("/api/channels")).json())["channels"]
    assert channel["flapping"] is True
    assert ", flapping</span>" in await (await client.get("/")).text()
    assert ">flapping</strong>" in await (await client.get("/channels/allegro")).text()
    summary = await (await client.get("/api/v2/summary.json")).json()
    [component] = [c for c in summary["components"] if c["id"] == "allegro"]
    assert component["description"] == "Flapping: its checks keep passing and failing"
