"""A web instance (--role web) on a real PostgreSQL, with the commands of deploy/compose.yaml: it serves the
pages, the API and /metrics from the database, and the admin commands sent to it take effect through the
leading decider."""

from __future__ import annotations

import aiohttp

from tests.distributed.cluster import Database, Processes, write_config
from tests.fakes import FakeChannel, eventually

TOKEN = "web-admin-token-0123456789"


async def test_a_web_instance_shows_the_decided_state_and_forwards_admin_commands(tmp_path, aiohttp_server, postgres_url):
    shop = FakeChannel()
    server = await aiohttp_server(shop.app)
    config = write_config(tmp_path / "c.yaml", postgres_url, server.port)
    config.write_text(f"admin_token: {TOKEN}\n" + config.read_text())
    db = Database(postgres_url)
    cluster = Processes(tmp_path, config)
    start, what = cluster.start, cluster.logs
    try:
        await start("decide-1", "--role", "decide")
        await eventually(lambda: db.scalar("SELECT count(*) FROM leadership") == 1, timeout=30, what=what)
        await start("probe-waw-1", "--role", "probe", "--location", "waw")
        web = await start("web-1", "--role", "web")
        base = f"http://127.0.0.1:{web.port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as http:

            async def channel() -> dict:
                try:
                    async with http.get(f"{base}/api/channels") as resp:
                        return (await resp.json())["channels"][0] if resp.status == 200 else {}
                except aiohttp.ClientError:
                    return {}

            shown = await eventually(lambda: _up(channel), timeout=30, what=what)
            assert shown["checks"][0]["locations"]["text"] == "fine from all 1 voting locations", shown
            assert shown["checks"][0]["last_run_at"] is not None
            async with http.get(f"{base}/") as resp:
                assert resp.status == 200 and "Shop" in await resp.text()
            async with http.get(f"{base}/readyz") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/metrics") as resp:
                assert 'channel_monitor_channel_state{channel="shop",state="up"} 1' in await resp.text()

            # An override sent to the web instance: the decider applies it (and stores it), the web shows it.
            body = {"state": "down", "by": "ops", "reason": "planned shop migration"}
            async with http.put(f"{base}/api/admin/channels/shop/override", json=body, headers=auth) as resp:
                assert resp.status == 200, await resp.text()
            assert db.scalar("SELECT state FROM channel_states WHERE channel = 'shop'") == "down"
            await eventually(lambda: _state(channel, "down"), timeout=5, what=what)
            async with http.delete(f"{base}/api/admin/channels/shop/override", headers=auth) as resp:
                assert resp.status == 200, await resp.text()
            await eventually(lambda: _state(channel, "up"), timeout=10, what=what)

            # A maintenance window, through the web instance, listed and cancelled.
            body = {"by": "ops", "reason": "new payment provider", "duration": "1h", "starts_in": "1h"}
            async with http.post(f"{base}/api/admin/channels/shop/maintenance", json=body, headers=auth) as resp:
                assert resp.status in (200, 201), await resp.text()
                window = (await resp.json())["id"]
            async with http.get(f"{base}/api/admin/channels/shop/maintenance", headers=auth) as resp:
                assert [w["reason"] for w in (await resp.json())["windows"]] == ["new payment provider"]
            async with http.delete(f"{base}/api/admin/channels/shop/maintenance/{window}", headers=auth) as resp:
                assert resp.status == 200, await resp.text()
            async with http.post(f"{base}/api/admin/failover/plans/99/approve", json={"by": "ops"}, headers=auth) as resp:
                assert resp.status == 404 and "no plan 99" in await resp.text()
        done = [tuple(r) for r in db.rows("SELECT action, outcome FROM admin_commands ORDER BY id")]
        assert done == [
            ("set_override", "ok"),
            ("set_override", "ok"),
            ("add_window", "ok"),
            ("remove_window", "ok"),
            ("approve_plan", "not_found"),
        ]
    finally:
        await cluster.close()
        db.engine.dispose()


async def _up(channel) -> dict | None:
    shown = await channel()
    return shown if shown.get("state") == "up" else None


async def _state(channel, state: str) -> bool:
    return (await channel()).get("state") == state
