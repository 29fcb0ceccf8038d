"""The status page says where the promotions' money is: a banner above the channel headline while a promotion
is frozen, held, waiting or away from its normal channels, and "moved away from" read from the applied
allocations, not from the channels' states. Real service, real probes, a signed webhook receiver on loopback."""

from __future__ import annotations

import re

from sqlalchemy import select

from monitor.app import create_app
from monitor.running import MONITOR
from monitor.store.models import FailoverTargetRow
from tests.fakes import eventually
from tests.support.failover import AUTH, NORMAL, failover_config, shops_and_receiver, start
from tests.support.pages import Html
from tests.support.service import all_up

MOVED = {"shop": 62500, "allegro": 37500, "facebook": 0}


def banner(page: str) -> str | None:
    """The failover banner's text, or None; it must come before the channel headline (role=status)."""
    match = re.search(r'<div class="banner (\w+)" role="alert" id="failover-attention">(.*?)</div>\n', page, re.S)
    if match is None:
        return None
    assert match.start() < page.index('role="status"'), "the failover banner is below the channel headline"
    return " ".join(Html(match.group(2)).all_text.split())


def moved_away(page: str) -> str | None:
    match = re.search(r"Promotions moved away from: <strong>([^<]*)</strong>", page)
    return match.group(1) if match else None


def applied(app, channel: str) -> int | None:
    """What the receiver acknowledged for the promotion on a channel (the relay records it after the answer)."""
    with app[MONITOR].engine.connect() as conn:
        return conn.execute(
            select(FailoverTargetRow.applied).where(FailoverTargetRow.owner == "ads", FailoverTargetRow.channel == channel)
        ).scalar_one()


async def test_moved_away_from_follows_the_applied_money_not_the_channels(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    monitor = app[MONITOR]
    # Frozen before the outage: Facebook fails over as a channel, but this promotion's money never leaves it.
    await client.post("/api/admin/failover/promotions/ads/freeze", json={"by": "ola", "reason": "campaign review"}, headers=AUTH)
    fakes["facebook"].mode = "error"
    await eventually(lambda: monitor.failover.gates.get("facebook") and ("fb-down", "shop") in receiver.notices)
    page = await (await client.get("/")).text()
    assert receiver.spending("ads") == NORMAL
    assert moved_away(page) is None, "names a channel that still holds the promotion's money"
    assert "(paused)" not in page

    # Unfrozen: the money moves and the receiver acknowledges it.
    await client.post("/api/admin/failover/promotions/ads/unfreeze", json={"by": "ola"}, headers=AUTH)
    await eventually(lambda: receiver.spending("ads") == MOVED and applied(app, "facebook") == 0)
    assert moved_away(await (await client.get("/")).text()) == "Facebook"

    # Frozen again, then Facebook recovers: nothing moves back, so the money is still away from it.
    await client.post("/api/admin/failover/promotions/ads/freeze", json={"by": "ola", "reason": "budget review"}, headers=AUTH)
    fakes["facebook"].mode = "ok"
    await eventually(lambda: monitor.book.health["facebook"].state.value == "up" and not monitor.failover.gates.get("facebook"))
    page = await (await client.get("/")).text()
    assert receiver.spending("ads") == MOVED
    assert moved_away(page) == "Facebook", "forgets 200.00 PLN still away from a channel that is up again"
    assert "−200.00 PLN (paused)" in Html(page).all_text  # Facebook's row: its normal amount is still elsewhere


async def test_banner_says_which_promotion_is_frozen_and_how_much_is_still_away_from_where(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    monitor = app[MONITOR]
    page = await (await client.get("/")).text()
    assert banner(page) is None and "All channels up</div>" in page

    fakes["facebook"].mode = "error"
    await eventually(lambda: receiver.spending("ads") == MOVED and applied(app, "facebook") == 0)
    page = await (await client.get("/")).text()
    assert banner(page) == "Black Friday ads: 200.00 PLN is away from Facebook"
    assert "1 of 3 channels down: Facebook</div>" in page

    await client.post("/api/admin/failover/promotions/ads/freeze", json={"by": "ola", "reason": "budget review"}, headers=AUTH)
    page = await (await client.get("/")).text()
    assert banner(page) == "Black Friday ads is frozen (budget review): 200.00 PLN is still away from Facebook"
    fakes["facebook"].mode = "ok"
    await eventually(lambda: monitor.book.health["facebook"].state.value == "up" and not monitor.failover.gates.get("facebook"))
    page = await (await client.get("/")).text()
    assert banner(page) == "Black Friday ads is frozen (budget review): 200.00 PLN is still away from Facebook"
    assert 'class="banner down" role="alert" id="failover-attention"' in page  # frozen: red, like an outage
    # The channel headline stays, below the banner, and does not contradict it.
    assert re.search(r'class="banner up" role="status">All channels up, but failover needs attention \(above\)</div>', page)


async def test_banner_names_a_plan_waiting_for_approval(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, _receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="approve")
    fakes["allegro"].mode = "error"
    await eventually(lambda: app[MONITOR].failover.pending)
    plan = app[MONITOR].failover.pending[("promotion", "ads")].plan_id
    page = await (await client.get("/")).text()
    assert banner(page) == f"Black Friday ads waits for approval of plan {plan}" and moved_away(page) is None


async def test_a_dry_run_says_what_it_would_move_and_moves_no_money(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="dry-run")
    fakes["allegro"].mode = "error"
    await eventually(lambda: app[MONITOR].failover.planned[("promotion", "ads")]["allegro"] == 0)
    page = await (await client.get("/")).text()
    assert banner(page) == "Black Friday ads would move 300.00 PLN away from Allegro; nothing is applied (dry run)"
    assert moved_away(page) is None and receiver.spending("ads") == NORMAL


async def test_banner_says_a_promotion_is_held_when_no_channel_is_left_to_take_it(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, _receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    for channel in ("shop", "allegro"):  # in maintenance: they hold, and take nothing more
        r = await client.post(
            f"/api/admin/channels/{channel}/maintenance", headers=AUTH, json={"by": "ola", "reason": "upgrade", "duration": "1h"}
        )
        assert r.status == 200
    fakes["facebook"].mode = "error"
    await eventually(
        lambda: (
            app[MONITOR].failover.owners.get(("promotion", "ads")) is not None and app[MONITOR].failover.owners[("promotion", "ads")].held
        )
    )
    page = await (await client.get("/")).text()
    assert banner(page).startswith("Black Friday ads is held (no healthy channel to move it to; the last allocation is kept)")
    assert 'class="banner down" role="alert" id="failover-attention"' in page


async def test_a_public_page_says_only_that_failover_needs_attention(tmp_path, aiohttp_server, aiohttp_client):
    fakes, receiver = await shops_and_receiver(aiohttp_server)
    config = failover_config(tmp_path, {c: f.url for c, f in fakes.items()}, receiver.url).model_copy(update={"show_failover": False})
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: all_up(app))
    assert banner(await (await client.get("/")).text()) is None
    await client.post("/api/admin/failover/promotions/ads/freeze", json={"by": "ola", "reason": "budget of 1000.00 PLN"}, headers=AUTH)
    page = await (await client.get("/")).text()
    assert banner(page) == "Failover needs attention."
    assert "PLN" not in page and "Black Friday" not in page and "budget" not in page
    assert "All channels up, but failover needs attention (above)</div>" in page
