"""Alerts with several relays and a Slack outage, on a real PostgreSQL, with the commands of deploy/compose.yaml:
every alert reaches Slack once, in its incident's thread, even when the process sending them is SIGKILLed
between the outage and the recovery (whichever relay goes on reads the thread from the database)."""

from __future__ import annotations

import signal

from tests.distributed.cluster import Database, Processes, pid_of
from tests.fakes import FakeChannel, eventually
from tests.fakes_slack import TOKEN, FakeSlack

WAIT = 45.0  # a relay SIGKILLed holding Slack's lease: another takes it after alerts/router.py LEASE_TTL (20 s)


def write_config(tmp_path, database_url: str, shop: str, slack: FakeSlack):
    path = tmp_path / "channels.yaml"
    path.write_text(f"""
database_url: {database_url}
allow_networks: [127.0.0.0/8]
defaults: {{interval: 300ms, timeout: 250ms, fail_threshold: 2, recover_threshold: 2}}
probing: {{heartbeat: 200ms, heartbeat_timeout: 1s}}
channels:
  - {{id: shop, name: Shop, checks: [{{kind: http, id: home, target: '{shop}'}}]}}
alerts:
  group_wait: 0s
  notifiers:
    - {{id: slack, kind: slack, token: '{TOKEN}', channel: '#ops', base_url: '{slack.url}api/', min_interval: 0.05}}
""")
    return path


async def test_two_relays_and_a_slack_outage_deliver_every_alert_once_in_its_thread(tmp_path, aiohttp_server, postgres_url):
    shop = FakeChannel()
    shop_url = str((await aiohttp_server(shop.app)).make_url("/"))
    slack = FakeSlack()
    slack.url = str((await aiohttp_server(slack.app)).make_url("/"))
    config = write_config(tmp_path, postgres_url, shop_url, slack)
    db = Database(postgres_url)
    cluster = Processes(tmp_path, config)
    start = cluster.start
    what = lambda: cluster.logs() + f"\nslack calls: {[(c.method, c.body.get('text', '')[:60]) for c in slack.calls]}"  # noqa: E731
    try:
        await start("decide-1", "--role", "decide")
        await eventually(lambda: db.scalar("SELECT count(*) FROM leadership") == 1, timeout=30, what=what)
        for name, role in (("decide-2", "decide"), ("relay-1", "relay"), ("relay-2", "relay"), ("probe-waw-1", "probe")):
            await start(name, "--role", role, *(("--location", "waw") if role == "probe" else ()))
        await eventually(lambda: db.scalar("SELECT state FROM channel_states WHERE channel = 'shop'") == "up", timeout=30, what=what)

        # Slack is down for the first three posts; the shop fails meanwhile.
        slack.fail("chat.postMessage", FakeSlack.http(503), FakeSlack.http(503), FakeSlack.http(503))
        shop.mode = "error"
        await eventually(lambda: slack.top_level(), timeout=WAIT, what=what)
        [message] = slack.top_level()
        assert "Shop" in message.text and slack.count("chat.postMessage") >= 4  # 3 refused, then delivered

        # The process holding Slack's lease dies (after it recorded the delivery: one killed between Slack's answer and
        # its own commit would have the alert sent again, as Slack takes no idempotency key: docs/distributed.md); the
        # shop recovers: another process posts in the same thread.
        await eventually(lambda: db.scalar("SELECT count(*) FROM alert_deliveries WHERE status = 'sent'") == 1, timeout=10, what=what)
        holder = db.scalar("SELECT holder FROM leases WHERE name = 'alerts:slack'")
        killed = cluster.by_pid(pid_of(holder))
        await killed.stop(signal.SIGKILL)
        shop.mode = "ok"
        await eventually(
            lambda: (
                db.scalar("SELECT count(*) FROM alert_deliveries WHERE status <> 'sent'") == 0
                and db.scalar("SELECT count(*) FROM alert_deliveries") == 2
            ),
            timeout=WAIT,
            what=what,
        )
        assert len(slack.top_level()) == 1, what()  # the recovery went to the incident's message, not a new one
        texts = [m.text for m in slack.replies(message.ts)]
        assert len(texts) == len(set(texts)), texts  # nothing posted twice
        assert "up" in slack.messages[message.ts].text.lower() or any("up" in t.lower() for t in texts), what()
        print(f"killed {killed.name} (held Slack's lease); the recovery was delivered in the incident's thread")
    finally:
        await cluster.close()
        db.engine.dispose()
