"""What the pages and the API say beside a channel's state agrees with it: a manual override's reason wherever
a cause is shown, and uptime and the today-bar summed after the channel went down, on every page alike."""

from __future__ import annotations

import re

from monitor.app import create_app
from monitor.running import MONITOR
from tests.fakes import eventually
from tests.support import config as cfg
from tests.support.pages import Html, bar_of
from tests.support.service import TOKEN, counted_up, incidents, state, with_admin_token

REASON = "moving the offer to a new account"


def allegro(url: str, **check) -> dict:
    return cfg.channel("allegro", name="Allegro", group="marketplace", checks=[cfg.http_check(url, **check)])


async def test_a_manual_override_shows_its_reason_wherever_a_cause_is_shown(tmp_path, aiohttp_client, fake_channel):
    app = create_app(with_admin_token(cfg.config([cfg.shop_channel("allegro", fake_channel.url)], data_dir=tmp_path)), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    response = await client.put(
        "/api/admin/channels/allegro/override", headers=TOKEN, json={"state": "down", "by": "anna@shop.pl", "reason": REASON}
    )
    assert response.status == 200
    await eventually(lambda: incidents(app))
    cause = f"set by hand by anna@shop.pl: {REASON}"

    overview = await (await client.get("/")).text()
    row = re.search(r'href="/channels/allegro">.*?<div class="ch-cause cause">([^<]*)</div>', overview, re.S)
    assert row and row.group(1) == cause
    recent = overview[overview.index("Recent incidents") :]
    assert cause in Html(recent).all_text
    assert cause in Html(await (await client.get("/incidents")).text()).all_text
    assert cause in Html(await (await client.get("/channels/allegro")).text()).all_text
    channels = await (await client.get("/api/channels")).json()
    assert channels["channels"][0]["cause"] == cause
    assert (await (await client.get("/api/channels/allegro")).json())["cause"] == cause
    [incident] = (await (await client.get("/api/incidents")).json())["incidents"]
    assert incident["cause_text"] == cause and incident["cause"]["reason"] == REASON


async def test_uptime_and_todays_bar_count_the_outage_at_once_on_every_page(tmp_path, aiohttp_client, fake_channel):
    app = create_app(cfg.config([allegro(fake_channel.url)], data_dir=tmp_path, defaults=cfg.HALF_SECOND), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: counted_up(app, "allegro") >= 3)
    page = await (await client.get("/")).text()  # figures summed while up, and kept 15 s
    assert re.search(r"<dt>24 h</dt><dd>100%</dd>", page) and bar_of(page, "allegro")[1][-1][0] == "up"

    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    overview, channel = await (await client.get("/")).text(), await (await client.get("/channels/allegro")).text()
    api = await (await client.get("/api/channels/allegro")).json()
    assert ">Down</span>" in overview
    day24 = re.search(r"<dt>24 h</dt><dd>([^<]+)</dd>", overview).group(1)
    assert day24 != "100%", "Down beside 100% uptime"
    assert f"24 h {day24}" in Html(channel).all_text  # the channel page says the same
    assert 0 < api["uptime_24h"] < 1
    colour, title = bar_of(overview, "allegro")[1][-1]
    assert colour == "down", f"today is {colour} beside Down: {title}"
    assert re.findall(r'<i class="d-(\w+)"', channel)[-1] == "down"


async def test_a_channel_forced_down_has_no_green_today_before_any_result_counts_it(tmp_path, aiohttp_client, fake_channel):
    conf = cfg.config([allegro(fake_channel.url, interval="1h")], data_dir=tmp_path, defaults=cfg.HALF_SECOND)
    app = create_app(with_admin_token(conf), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: counted_up(app, "allegro") == 1)  # the one result for an hour
    assert bar_of(await (await client.get("/")).text(), "allegro")[1][-1][0] == "up"
    await client.put("/api/admin/channels/allegro/override", headers=TOKEN, json={"state": "down", "by": "anna@shop.pl", "reason": REASON})
    assert app[MONITOR].book.health["allegro"].state.value == "down"
    overview = await (await client.get("/")).text()
    colour, title = bar_of(overview, "allegro")[1][-1]
    assert colour == "down" and title.endswith(": down now; so far 100% up"), (colour, title)
    label, _ = bar_of(overview, "allegro")
    assert label.endswith("1 day down, 89 days no data")
