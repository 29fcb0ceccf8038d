"""`channel-monitor plan` and `channel-monitor failover ...` as a user runs them."""
from __future__ import annotations

import json

from monitor.web.keys import SERVICE
from tests.failover.test_failover_service import NORMAL, start
from tests.fakes import eventually
from tests.test_cli import run_cli


async def test_what_if_prints_the_allocation_without_changing_anything():
    code, out, err = await run_cli("plan", "--fail", "facebook-shop", "--fail", "instagram-shop")
    assert (code, err) == (0, "")
    assert "What if facebook-shop, instagram-shop failed (nothing is changed)" in out
    assert "allegro         1,000.00 PLN  2,857.15 PLN  +1,857.15 PLN" in out
    assert "facebook-shop   2,000.00 PLN  0.00 PLN      -2,000.00 PLN  (failed: paused)" in out


async def test_what_if_json_conserves_the_total_and_posts_notices():
    code, out, _ = await run_cli("plan", "--fail", "whatsapp-business", "--json")
    data = json.loads(out)
    assert code == 0 and data["notices"] == [{"id": "whatsapp-down", "post_on": ["messenger", "own-shop"],
                                              "text": "WhatsApp is down: write to us on Messenger or by e-mail"}]
    promo = data["promotions"][0]
    assert promo["after"] == promo["normal"] and sum(promo["after"].values()) == 500000


async def test_what_if_rejects_an_unknown_channel():
    code, _, err = await run_cli("plan", "--fail", "myspace")
    assert code == 2 and err.startswith("not a channel: myspace; channels: own-shop, allegro")


async def test_status_and_admin_commands_against_a_running_service(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="approve")
    config_path = tmp_path / "channels.yaml"  # the config the app runs (its data_dir holds the app's database)
    fakes["facebook"].mode = "error"
    await eventually(lambda: app[SERVICE].failover.pending)
    plan_id = next(iter(app[SERVICE].failover.pending.values())).plan_id
    code, out, err = await run_cli("failover", "status", "--config", str(config_path))
    assert code == 0, err
    assert "Failed over: facebook" in out and f"waiting for approval (plan {plan_id})" in out
    url = str(client.make_url("")).rstrip("/")
    code, _, err = await run_cli("failover", "approve", str(plan_id), "--by", "ola", "--url", url, "--token", "wrong")
    assert code == 2 and "the service refused (401)" in err
    code, out, err = await run_cli("failover", "approve", str(plan_id), "--by", "ola", "--url", url,
                                   "--token", "test-admin-token-1234")
    assert (code, out) == (0, f"plan {plan_id} approved by ola; the relay applies it now\n"), err
    await eventually(lambda: receiver.spending("ads") == {"shop": 62500, "allegro": 37500, "facebook": 0})
    code, out, _ = await run_cli("failover", "freeze", "promotion", "ads", "--by", "ola", "--reason", "audit",
                                 "--url", url, "--token", "test-admin-token-1234")
    assert (code, out) == (0, "promotion ads frozen by ola\n")
    code, out, _ = await run_cli("failover", "status", "--config", str(config_path), "--json")
    summary = json.loads(out)
    assert summary["promotions"][0]["frozen"] and summary["promotions"][0]["applied"]["facebook"] == 0
    assert [p["status"] for p in summary["plans"] if p["owner"] == "ads"] == ["approved"]
    page = await (await client.get("/")).text()
    assert "<h2>Failover</h2>" in page and "frozen: audit" in page
    assert "Shop 500.00 PLN → 625.00 PLN; " in page and "Facebook 200.00 PLN → 0.00 PLN" in page and "because Facebook failed" in page
    assert sum(NORMAL.values()) == 100000
