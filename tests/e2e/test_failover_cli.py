"""`channel-monitor plan` and `channel-monitor failover ...` as a user runs them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from monitor.config import load_config
from monitor.failover.engine import FailoverEngine
from monitor.failover.gate import HealthView
from monitor.failover.report import failover_summary
from monitor.health import State
from monitor.running import MONITOR
from monitor.store.db import ensure_data_dir, make_engine
from tests.fakes import eventually
from tests.support.cli import run_cli, write_allegro_config
from tests.support.failover import NORMAL, start


async def test_what_if_prints_the_allocation_without_changing_anything(tmp_path):
    code, out, err = await run_cli("plan", "--fail", "facebook-shop", "--fail", "instagram-shop", "--data-dir", str(tmp_path))
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        "What if facebook-shop, instagram-shop failed (nothing is changed):",
        f"NOW is the normal allocation (nothing is stored in {tmp_path / 'channel-monitor.db'} yet).",
    ]
    assert "allegro         1,000.00 PLN  2,857.15 PLN  +1,857.15 PLN" in out
    assert "facebook-shop   2,000.00 PLN  0.00 PLN      -2,000.00 PLN  (failed: paused)" in out


async def test_what_if_json_conserves_the_total_and_posts_notices(tmp_path):
    code, out, _ = await run_cli("plan", "--fail", "whatsapp-business", "--json", "--data-dir", str(tmp_path))
    data = json.loads(out)
    assert code == 0 and data["notices"] == [
        {"id": "whatsapp-down", "post_on": ["messenger", "own-shop"], "text": "WhatsApp is down: write to us on Messenger or by e-mail"}
    ]
    promo = data["promotions"][0]
    assert promo["after"] == promo["normal"] and sum(promo["after"].values()) == 500000


async def test_what_if_fails_a_placement_whose_buyers_land_on_a_failed_channel(tmp_path):
    code, out, err = await run_cli("plan", "--fail", "own-shop", "--data-dir", str(tmp_path))
    assert (code, err) == (0, "")
    assert out.split("Price comparison ads")[1].splitlines()[1:4] == [  # ceneo's ads send buyers to the own shop
        "CHANNEL  NOW         AFTER         CHANGE",
        "ceneo    700.00 PLN  0.00 PLN      -700.00 PLN  (buyers land on own-shop: paused)",
        "allegro  300.00 PLN  1,000.00 PLN  +700.00 PLN",
    ]


async def test_what_if_now_of_a_dry_run_is_what_is_applied_not_what_it_planned(tmp_path):
    config = tmp_path / "channels.yaml"
    config.write_text(f"""
data_dir: {tmp_path / "data"}
channels:
  - {{id: shop, name: Shop, checks: [{{kind: http, target: 'http://127.0.0.1:9/'}}]}}
  - {{id: allegro, name: Allegro, checks: [{{kind: http, target: 'http://127.0.0.1:9/'}}]}}
failover:
  timing: {{hold_down: 0s, settle: 0s}}
  actuators: [{{id: hook, kind: log}}]
  promotions:
    - {{id: ads, name: Ads, total: 100000, unit: PLN, mode: dry-run, channels: {{shop: {{share: 50, actuator: hook}},
       allegro: {{share: 50, actuator: hook}}}}}}
""")
    loaded = load_config(config)
    ensure_data_dir(Path(loaded.data_dir))
    engine = make_engine(loaded.db_url)
    fe = FailoverEngine(loaded.failover, engine)
    fe.load(1000)
    fe.commit(fe.evaluate(1000, {"shop": HealthView(State.DOWN, 1000, down_since=1000), "allegro": HealthView(State.UP, 0)}, False))
    engine.dispose()
    assert fe.planned[("promotion", "ads")] == {"shop": 0, "allegro": 100000}  # planned in dry run, never sent
    code, out, err = await run_cli("plan", "--config", str(config), "--fail", "allegro")
    assert code == 0, err
    assert out.split("CHANNEL ")[1].splitlines()[1:3] == [
        "shop     500.00 PLN  1,000.00 PLN  +500.00 PLN",
        "allegro  500.00 PLN  0.00 PLN      -500.00 PLN  (failed: paused)",
    ]


async def test_what_if_rejects_an_unknown_channel():
    code, _, err = await run_cli("plan", "--fail", "myspace")
    assert code == 2 and err.startswith("not a channel: myspace; channels: own-shop, allegro")


async def test_status_and_admin_commands_against_a_running_service(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="approve")
    config_path = tmp_path / "channels.yaml"  # the config the app runs (its data_dir holds the app's database)
    fakes["facebook"].mode = "error"
    await eventually(lambda: app[MONITOR].failover.pending)
    plan_id = next(iter(app[MONITOR].failover.pending.values())).plan_id
    code, out, err = await run_cli("failover", "status", "--config", str(config_path))
    assert code == 0, err
    assert "Failed over: facebook" in out and f"waiting for approval (plan {plan_id})" in out
    url = str(client.make_url("")).rstrip("/")
    code, _, err = await run_cli("failover", "approve", str(plan_id), "--by", "ola", "--url", url, "--token", "wrong")
    assert code == 2 and "the service refused (401)" in err
    code, out, err = await run_cli("failover", "approve", str(plan_id), "--by", "ola", "--url", url, "--token", "test-admin-token-1234")
    assert (code, out) == (0, f"plan {plan_id} approved by ola; the relay applies it now\n"), err
    await eventually(lambda: receiver.spending("ads") == {"shop": 62500, "allegro": 37500, "facebook": 0})
    code, out, _ = await run_cli(
        "failover", "freeze", "promotion", "ads", "--by", "ola", "--reason", "audit", "--url", url, "--token", "test-admin-token-1234"
    )
    assert (code, out) == (0, "promotion ads frozen by ola\n")
    code, out, _ = await run_cli("failover", "status", "--config", str(config_path), "--json")
    summary = json.loads(out)
    assert summary["promotions"][0]["frozen"] and summary["promotions"][0]["applied"]["facebook"] == 0
    assert [p["status"] for p in summary["plans"] if p["owner"] == "ads"] == ["approved"]
    page = await (await client.get("/")).text()
    assert "<h2>Failover</h2>" in page and "frozen: audit" in page
    assert "Shop 500.00 PLN → 625.00 PLN; " in page and "Facebook 200.00 PLN → 0.00 PLN" in page and "because Facebook failed" in page
    assert sum(NORMAL.values()) == 100000


async def test_status_reads_the_data_dir_asked_for_before_or_after_the_command(tmp_path):
    data = tmp_path / "elsewhere"
    assert (await run_cli("db", "upgrade", "--data-dir", str(data)))[0] == 0
    with sqlite3.connect(data / "channel-monitor.db") as conn:
        conn.execute("insert into failover_gates (channel, failed, changed_at) values ('allegro', 1, 0)")
    config = write_allegro_config(tmp_path, "http://127.0.0.1:9/")  # its data_dir is tmp_path/data: not this one
    for args in (
        ("failover", "status", "--data-dir", str(data)),
        ("--data-dir", str(data), "failover", "status"),
        ("--config", str(config), "failover", "status", "--data-dir", str(data)),
        ("--json", "failover", "status", "--data-dir", str(data)),
    ):
        code, out, err = await run_cli(*args)
        assert code == 0, (args, err)
        assert out.startswith("Failed over: allegro\n") or json.loads(out)["failed_over"] == ["allegro"], args
    code, _, err = await run_cli("failover", "status", "--config", str(config))
    assert (code, err) == (
        2,
        f"no database at {tmp_path / 'data' / 'channel-monitor.db'}: start the service with this "
        "config first, or pass the --config or --data-dir it runs with\n",
    )


async def test_money_reads_in_major_units_with_channel_names_and_now_is_what_is_applied(tmp_path, aiohttp_server, aiohttp_client):
    app, _client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    config = str(tmp_path / "channels.yaml")
    fakes["facebook"].mode = "error"
    await eventually(
        lambda: failover_summary(app[MONITOR].failover)["promotions"][0]["applied"] == {"shop": 62500, "allegro": 37500, "facebook": 0}
    )
    code, out, err = await run_cli("failover", "status", "--config", config)
    assert code == 0, err
    header, *lines = out.split("Latest plans:\n")[1].splitlines()
    assert [line[header.index("CHANGES") : header.index("ACTIONS")].rstrip() for line in lines] == [
        "post on Shop",
        "Shop 500.00 PLN -> 625.00 PLN, Allegro 300.00 PLN -> 375.00 PLN,",  # wrapped between words
        "Facebook 200.00 PLN -> 0.00 PLN",
    ]
    assert "ads        auto  facebook  200.00 PLN  0.00 PLN    0.00 PLN" in out
    code, out, err = await run_cli("plan", "--config", config, "--fail", "allegro")
    assert code == 0, err
    assert out.splitlines()[1] == f"NOW is what is applied (stored in {tmp_path / 'channel-monitor.db'})."
    assert out.split("CHANNEL ")[1].splitlines()[1:4] == [
        "shop      625.00 PLN  714.29 PLN  +89.29 PLN",
        "allegro   375.00 PLN  0.00 PLN    -375.00 PLN  (failed: paused)",
        "facebook  0.00 PLN    285.71 PLN  +285.71 PLN",
    ]
    code, out, err = await run_cli("plan", "--config", config, "--fail", "allegro", "--fail", "shop", "--fail", "facebook")
    assert code == 0, err
    assert out.split("CHANNEL ")[1].splitlines()[1:5] == [  # nowhere to move to: each keeps what it holds now
        "shop      625.00 PLN  625.00 PLN  (failed: keeps it)",
        "allegro   375.00 PLN  375.00 PLN  (failed: keeps it)",
        "facebook  0.00 PLN    0.00 PLN    (failed: paused)",
        "  no healthy channel left: the allocation of now would be kept, and you would be alerted",
    ]
    assert "notice fb-down would not be posted (every channel it posts on failed too)" in out


async def test_plan_validate_asks_google_ads_whether_it_would_accept_the_moves_and_changes_nothing(tmp_path, aiohttp_server):
    from tests.support.google_ads import CLIENT_ID, CLIENT_SECRET, DEVELOPER_TOKEN, REFRESH_TOKEN, FakeGoogleAds

    ads = FakeGoogleAds()
    ads.now = 4_000_000_000.0  # the fake's tokens outlive the real clock the CLI runs on
    budget = "customers/1234567890/campaignBudgets/555"
    ads.budgets[budget] = 600_000_000  # 600.00 PLN: the normal amount
    server = await aiohttp_server(ads.app)
    config = write_allegro_config(tmp_path, "http://127.0.0.1:9/")
    config.write_text(
        config.read_text().replace(
            "channels:\n", "channels:\n  - {id: gshop, name: Google Shopping, checks: [{kind: tcp, target: '127.0.0.1:9'}]}\n", 1
        )
        + f"""failover:
  actuators:
    - {{id: gads, kind: google_ads, developer_token: {DEVELOPER_TOKEN}, client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET},
       refresh_token: '{REFRESH_TOKEN}', base_url: '{server.make_url("/v26")}', token_url: '{server.make_url("/token")}'}}
    - {{id: hook, kind: webhook, url: 'http://127.0.0.1:9/failover', secret: whsec-0123456789abcdef}}
  promotions:
    - id: ads
      name: Black Friday ads
      total: 100000
      unit: PLN
      mode: auto
      channels:
        gshop: {{share: 60, actuator: gads, target: '{budget}'}}
        allegro: {{share: 40, actuator: hook, target: 'allegro-ads'}}
"""
    )
    code, out, err = await run_cli("plan", "--config", str(config), "--fail", "allegro", "--validate")
    assert (code, err) == (0, ""), err
    assert "would the channels accept it now (validate-only, nothing changed):" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("gshop ", "allegro "))}
    assert "set_amount 1,000.00 PLN" in rows["gshop"] and "accepted" in rows["gshop"]
    assert "would set the daily budget 600.00 PLN -> 1,000.00 PLN" in out
    assert "pause" in out and "not checked" in out and "webhook has no validate-only mode" in out
    assert ads.budgets[budget] == 600_000_000 and ads.mutations == []  # nothing changed
    assert [body["validateOnly"] for method, body in ads.calls if method.endswith(":mutate")] == [True]

    code, out, _ = await run_cli("plan", "--config", str(config), "--fail", "allegro", "--validate", "--json")
    [promotion] = json.loads(out)["promotions"]
    assert [(c["channel"], c["verdict"]) for c in promotion["checks"]] == [("gshop", "accepted"), ("allegro", "not checked")]
