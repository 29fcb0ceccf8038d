"""4 October 2021 with live failover: the four Meta channels fail and recover a moment apart, as real checks see
it (each at its own phase). The real service, loopback shops, a signed webhook receiver and a fake Slack.

What a seller leaves on auto must do with it: one plan out and one plan back per promotion, the customer notice
only where customers can read it, one Slack thread for the outage that ends resolved, and no freeze.
"""

from __future__ import annotations

import asyncio
import html
import json

from sqlalchemy import select

from monitor.app import create_app
from monitor.config import parse_config
from monitor.running import MONITOR
from monitor.store.models import FailoverActionRow, FailoverPlanRow
from tests.fakes import FakeChannel, eventually
from tests.fakes_slack import TOKEN, FakeSlack
from tests.support.receiver import SECRET, Receiver

META = {
    "facebook-shop": "Facebook Shop",
    "instagram-shop": "Instagram Shop",
    "messenger": "Messenger",
    "whatsapp-business": "WhatsApp Business",
}
OTHERS = {"own-shop": "Own shop", "allegro": "Allegro"}
NORMAL = {"facebook-shop": 200000, "instagram-shop": 125000, "allegro": 100000, "own-shop": 75000}


def config(tmp_path, urls, hook, slack):
    lines = [
        f"data_dir: {tmp_path}",
        "allow_networks: [127.0.0.0/8]",
        "defaults: {interval: 200ms, timeout: 150ms, fail_threshold: 2, recover_threshold: 2}",
        "connectivity: {max_failing_share: 1.0}",
        "channels:",
    ]
    lines += [f"  - {{id: {c}, name: '{n}', checks: [{{kind: http, target: '{urls[c]}'}}]}}" for c, n in {**META, **OTHERS}.items()]
    lines += [
        "failover:",
        "  timing: {hold_down: 300ms, failback_after: 500ms, settle: 1500ms}",  # max_moves_per_hour: 4
        "  actuators:",
        f"    - {{id: hook, kind: webhook, url: '{hook}', secret: {SECRET}}}",
        "  promotions:",
        "    - {id: ads, name: Christmas ads, total: 500000, unit: PLN, mode: auto, channels: {"
        + ", ".join(f"{c}: {{amount: {v}, actuator: hook, target: 'obj-{c}'}}" for c, v in NORMAL.items())
        + "}}",
        "  notices:",
        "    - {id: whatsapp-down, when_down: whatsapp-business, post_on: [messenger, own-shop], "
        "actuator: hook, text: 'WhatsApp is down: write to us on the shop chat', mode: auto}",
        "alerts:",
        "  group_wait: 1s",
        "  notifiers:",
        f"    - {{id: slack, kind: slack, token: '{TOKEN}', channel: '#ops', base_url: '{slack.url}api/', min_interval: 0}}",
    ]
    return parse_config("\n".join(lines))


async def test_2021_with_live_failover_is_one_plan_each_way_one_thread_and_no_freeze(tmp_path, aiohttp_server, aiohttp_client):
    shops = {c: FakeChannel() for c in {**META, **OTHERS}}
    urls = {c: str((await aiohttp_server(s.app)).make_url("/")) for c, s in shops.items()}
    receiver = Receiver(amounts={("ads", c): v for c, v in NORMAL.items()})
    hook = str((await aiohttp_server(receiver.app)).make_url("/failover"))
    slack = FakeSlack()
    slack.url = str((await aiohttp_server(slack.app, access_log=None)).make_url("/"))
    app = create_app(config(tmp_path, urls, hook, slack), flush_interval=0.05)
    await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()), timeout=10)

    for channel in META:  # the DNS answers went away one after the other, 0.3 s apart
        shops[channel].mode = "error"
        await asyncio.sleep(0.3)
    away = {"facebook-shop": 0, "instagram-shop": 0, "allegro": 285715, "own-shop": 214285}
    await eventually(lambda: receiver.spending("ads") == away and ("whatsapp-down", "own-shop") in receiver.notices, timeout=15)
    for channel in META:
        shops[channel].mode = "ok"
        await asyncio.sleep(0.3)
    await eventually(lambda: receiver.spending("ads") == NORMAL and not receiver.notices, timeout=15)
    await eventually(lambda: {a.status for a in rows(monitor, FailoverActionRow)} == {"applied"})

    plans = rows(monitor, FailoverPlanRow)
    assert [(p.owner, p.status) for p in plans] == [("ads", "applied"), ("whatsapp-down", "applied")] * 2
    assert not any(s.frozen for s in monitor.failover.owners.values())
    # The notice never went to Messenger, which was down all along.
    posted = [(a.op, a.channel) for a in rows(monitor, FailoverActionRow) if a.owner == "whatsapp-down"]
    assert posted == [("post_notice", "own-shop"), ("withdraw_notice", "own-shop")]
    assert not [d for d in receiver.deliveries if d.get("notice") and d["channel"] == "messenger"]
    # Every plan of the outage carries one key, out and back: the outage of a channel its owner uses (the promotion:
    # the last of its own channels to fail, Instagram 0.3 s after Facebook; the notice: WhatsApp); so do their
    # alerts: one thread, whose root ends resolved.
    keys = {p.owner: {json.loads(q.reason)["key"].rsplit(":", 1)[0] for q in plans if q.owner == p.owner} for p in plans}
    assert keys == {"ads": {"down:instagram-shop"}, "whatsapp-down": {"down:whatsapp-business"}}, keys
    await eventually(lambda: "back up" in slack.top_level()[0].text if slack.top_level() else False, timeout=10)
    [root] = slack.top_level()
    assert root.text == "4 channels back up: Facebook Shop, Instagram Shop, Messenger, WhatsApp Business"

    def replies() -> str:
        return html.unescape(" ".join(r.text for r in slack.replies(root.ts)))

    await eventually(lambda: replies().count("Failover: moving") == 4, timeout=10)  # out and back, each owner
    replies = replies()
    assert "Christmas ads" in replies and "Facebook Shop 2,000.00 PLN -> 0.00 PLN" in replies
    assert "customer notice whatsapp-down" in replies and "post on Own shop" in replies


def rows(monitor, model):
    with monitor.engine.connect() as conn:
        return [model.model_validate(r._mapping) for r in conn.execute(select(model).order_by(model.id))]
