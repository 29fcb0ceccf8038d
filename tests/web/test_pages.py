"""The status pages on loopback, against the real service and database: the overview's groups and 90-day
bars, a channel's page with its response-time chart, the incident history's pages, 404s, and probe text
from a hostile server shown only as escaped text."""

from __future__ import annotations

import asyncio
import json
import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from monitor.app import create_app
from monitor.core.history import DAY, HOUR, floor_to
from monitor.running import MONITOR
from monitor.store.models import FailoverPlanRow, IncidentRow, RollupRow
from monitor.web.cache import Cached
from tests.fakes import FakeChannel, eventually, serve
from tests.support import config as cfg
from tests.support.pages import Html, bar_of
from tests.support.service import counted_up
from tests.support.store import rollup

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>"onmouseover="x javascript:alert(1)'


def shop(cid: str, name: str, group: str, url: str, maintenance: list[dict] | None = None, **check) -> dict:
    """A channel with one http check `home` of url (plus `check`'s options)."""
    fields = {"group": group} | ({"maintenance": maintenance} if maintenance else {})
    return cfg.channel(cid, name=name, checks=[cfg.http_check(url, **check)], **fields)


def day(offset: int) -> int:
    return floor_to(time.time(), DAY) - offset * DAY


def date(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def seed(app, rows: list[dict], table=RollupRow) -> None:
    with app[MONITOR].engine.begin() as conn:
        conn.execute(insert(table), rows)


def incident_count(app) -> int:
    with app[MONITOR].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(IncidentRow)).scalar_one()


async def test_overview_groups_channels_by_kind_with_90_daily_bars(tmp_path, aiohttp_client, fake_channel):
    url = fake_channel.url
    now = time.time()
    channels = [
        ("misc", "Misc", "other", url),
        ("wa", "WhatsApp", "messaging", url),
        ("ceneo", "Ceneo", "comparison", url),
        ("fb", "Facebook", "social", url),
        ("amazon", "Amazon", "marketplace", url),
        ("allegro", "Allegro", "marketplace", url),
        ("own", "Own shop", "own_shop", url),
    ]
    windows = {
        "ceneo": [{"start": iso(now + DAY), "end": iso(now + DAY + 2 * HOUR), "reason": "Feed migration"}],
        "wa": [{"cron": "* * * * *", "duration": "1h", "reason": "Weekly API upgrade"}],
    }
    config = cfg.config([shop(*c, maintenance=windows.get(c[0])) for c in channels], data_dir=tmp_path, defaults=cfg.HALF_SECOND)
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: all(counted_up(app, c) for c, *_ in channels if c != "wa"))
    await eventually(lambda: app[MONITOR].book.health["wa"].state.value == "maintenance")
    seed(
        app,
        [
            rollup("day", "allegro", "", day(1), n_up=1000, n_degraded=440),
            rollup("day", "allegro", "", day(2), n_up=1430, n_down=10),
            rollup("day", "allegro", "", day(3), n_maintenance=60),
            rollup("day", "allegro", "", day(5), n_up=1440),
            rollup("day", "allegro", "home", day(2), n_down=999),
        ],
    )  # a check's row: the bar reads the totals
    response = await client.get("/")
    page = await response.text()
    assert response.status == 200 and "default-src 'none'" in response.headers["Content-Security-Policy"]

    # Groups in their fixed order, each with its channels in config order, each name linking to its page.
    headings = re.findall(r'<h2 id="group-(\w+)">([^<]+)', page)
    assert [(k, label.strip()) for k, label in headings] == [
        ("own_shop", "Own shop"),
        ("marketplace", "Marketplaces"),
        ("social", "Social"),
        ("comparison", "Price comparison"),
        ("messaging", "Messaging"),
        ("other", "Other"),
    ]
    marketplaces = page[page.index('id="group-marketplace"') : page.index('id="group-social"')]
    assert re.findall(r'href="/channels/(\w+)"', marketplaces) == ["amazon", "allegro"]
    assert "All channels up, except 1 in planned maintenance: WhatsApp</div>" in page
    assert ">Up</span>" in page and ">Maintenance</span>" in page  # the state in words beside its colour

    label, days = bar_of(page, "allegro")
    assert len(days) == 90
    assert days[-1] == ("up", f"{date(day(0))}: 100% up")
    assert days[-2] == ("degraded", f"{date(day(1))}: 100% up, 7h 20m degraded")
    assert days[-3] == ("down", f"{date(day(2))}: 99.30% up, 10m down")
    assert days[-4] == ("maintenance", f"{date(day(3))}: maintenance only")
    assert days[-5] == ("none", f"{date(day(4))}: no data")
    assert days[-6] == ("up", f"{date(day(5))}: 100% up")
    assert days[0] == ("none", f"{date(day(89))}: no data")
    assert label == (
        "Daily history, last 90 days, oldest first: 2 days all up, 1 day degraded, 1 day down, 1 day maintenance only, 85 days no data"
    )
    _, misc = bar_of(page, "misc")
    assert [c for c, _ in misc] == ["none"] * 89 + ["up"]

    # Maintenance notices: the one going on, then the one coming.
    notices = page[page.index('id="maintenance"') : page.index('id="group-own_shop"')]
    text = Html(notices).all_text
    assert re.search(r"WhatsApp: maintenance now, until [\d-]+ [\d:]+ UTC\s+— Weekly API upgrade", text)
    assert f"Ceneo: maintenance from {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now + DAY))}" in text
    assert text.index("WhatsApp") < text.index("Ceneo") and "Feed migration" in text


async def test_channel_page_shows_checks_conditions_chart_and_maintenance(tmp_path, aiohttp_client, fake_channel):
    now = time.time()
    window = {"start": iso(now + 2 * DAY), "end": iso(now + 2 * DAY + HOUR), "reason": "Bank holiday"}
    allegro = shop("allegro", "Allegro", "marketplace", fake_channel.url, maintenance=[window], conditions=["[STATUS] == 200"])
    app = create_app(cfg.config([allegro], data_dir=tmp_path, defaults=cfg.HALF_SECOND), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: app[MONITOR].book.health["allegro"].state.value == "up" and counted_up(app, "allegro"))
    hour = floor_to(time.time(), HOUR)
    seeded = [hour - 5 * HOUR, hour - 4 * HOUR, hour - 2 * HOUR]
    seed(
        app,
        [
            rollup(
                "hour",
                "allegro",
                "home",
                h,
                n_up=60,
                latency_count=60,
                latency_sum_us=60 * 120_000,
                latency_min=0.05,
                latency_max=0.5,
                latency_p95=0.3,
            )
            for h in seeded
        ]
        + [
            rollup(
                "hour",
                "allegro",
                "home",
                hour - 30 * HOUR,
                n_up=60,
                latency_count=60,
                latency_sum_us=600_000,
                latency_max=0.02,
                latency_p95=0.01,
            )
        ],
    )  # older than 24 h: not drawn
    response = await client.get("/channels/allegro")
    page = await response.text()
    assert response.status == 200 and "default-src 'none'" in response.headers["Content-Security-Policy"]
    text = Html(page).all_text
    assert "<h1>Allegro</h1>" in page and "Marketplaces" in text
    assert re.search(r"State\s*Up\s*since \d{4}-\d\d-\d\d", text)
    assert re.search(r"Last result\s*OK\s*at ", text) and "every 500ms" in text
    assert re.search(r"pass\s*\[STATUS\] == 200\s*actual\s*200", text)
    assert "Bank holiday" in text and f"maintenance from {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now + 2 * DAY))}" in text
    assert "No incidents recorded for this channel." in text

    svg = ET.fromstring(re.search(r"<svg .*?</svg>", page, re.S).group(0))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "chart-home-title chart-home-desc"
    assert svg.find(f"{SVG}title").text == "Response time of home, last 24 hours (UTC)"
    assert "hours with successful results" in svg.find(f"{SVG}desc").text
    points = {int(g.get("data-hour")): g for g in svg.iter(f"{SVG}g") if g.get("class") == "pt"}
    assert set(seeded) <= set(points) and hour - 30 * HOUR not in points
    assert hour in points  # this hour, from the raw results not yet rolled up
    for h in seeded:
        title = points[h].find(f"{SVG}title").text
        assert title == f"{time.strftime('%Y-%m-%d %H:00 UTC', time.gmtime(h))}: average 120 ms, p95 300 ms, slowest 500 ms (60 successful)"
        avg, p95 = (
            (c for c in points[h].iter(f"{SVG}circle") if c.get("class") == "avg"),
            (c for c in points[h].iter(f"{SVG}circle") if c.get("class") == "p95"),
        )
        avg_y, p95_y = float(next(avg).get("cy")), float(next(p95).get("cy"))
        assert p95_y < avg_y  # slower is higher up
    xs = [float(next(points[h].iter(f"{SVG}circle")).get("cx")) for h in sorted(points)]
    assert xs == sorted(xs)
    # The lines break where an hour has no successful result: hours -5 and -4, then -2, then this hour.
    avg_lines = [p.get("points") for p in svg.iter(f"{SVG}polyline") if p.get("class") == "avg"]
    if hour - HOUR not in points and hour - 3 * HOUR not in points:
        assert [len(line.split()) for line in avg_lines] == [2, 1, 1]
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "0 ms" in labels and "500 ms" in labels and any(re.fullmatch(r"\d\d:00", t or "") for t in labels)
    assert "Hourly figures" in text


async def test_incident_history_pages_newest_first_with_failover_plans(tmp_path, aiohttp_client, fake_channel):
    channels = [shop("allegro", "Allegro", "marketplace", fake_channel.url), shop("amazon", "Amazon", "marketplace", fake_channel.url)]
    app = create_app(cfg.config(channels, data_dir=tmp_path, defaults=cfg.HALF_SECOND, show_failover=True), flush_interval=0.05)
    client = await aiohttp_client(app)
    base = time.time() - 200 * HOUR
    seed(
        app,
        [
            {
                "channel": "amazon" if i % 2 else "allegro",
                "started_at": base + i * HOUR,
                "ended_at": base + i * HOUR + 610,
                "cause": json.dumps({"check": "home", "error": f"HTTP 50{i % 4}"}),
            }
            for i in range(120)
        ],
        IncidentRow,
    )
    seed(
        app,
        [
            {
                "at": base + 119 * HOUR + 5,
                "owner_kind": "promotion",
                "owner": "ads",
                "mode": "auto",
                "status": "applied",
                "reason": json.dumps({"failed": ["amazon"], "incidents": {"amazon": 120}}),
            }
        ],
        FailoverPlanRow,
    )
    first = await (await client.get("/incidents")).text()
    rows = re.findall(r'<td data-label="Started">([^<]+)</td>', first)
    assert len(rows) == 50 and rows == sorted(rows, reverse=True)
    assert rows[0] == time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(base + 119 * HOUR))
    text = Html(first).all_text
    assert "120 incidents, newest first; 1–50 shown." in text and "Page 1 of 3" in text and "10m" in text
    assert "plan 1 (promotion ads, applied)" in text and text.count("plan 1 (") == 1
    assert 'href="/incidents?page=2" rel="next"' in first and 'rel="prev"' not in first
    assert 'href="/channels/amazon">Amazon</a>' in first and "home: HTTP 503" in text
    third = await (await client.get("/incidents?page=3")).text()
    assert len(re.findall(r'data-label="Started"', third)) == 20 and "Page 3 of 3" in third
    assert 'href="/incidents?page=2" rel="prev"' in third and 'rel="next"' not in third
    assert re.findall(r'<td data-label="Started">([^<]+)</td>', third)[-1] == time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(base))
    assert (await client.get("/incidents?page=4")).status == 404
    for bad in ("0", "x", "-1", "1e3"):
        assert (await client.get(f"/incidents?page={bad}")).status == 400
    overview = await (await client.get("/")).text()
    assert '<a href="/incidents">All incidents</a>' in overview and len(re.findall(r'data-label="Started"', overview)) == 10


async def test_unknown_channel_is_a_404_page(tmp_path, aiohttp_client, fake_channel):
    app = create_app(
        cfg.config([shop("allegro", "Allegro", "marketplace", fake_channel.url)], data_dir=tmp_path, defaults=cfg.HALF_SECOND),
        flush_interval=0.05,
    )
    client = await aiohttp_client(app)
    for path in ("/channels/nope", "/channels/%3Cscript%3Ealert(1)%3C%2Fscript%3E"):
        response = await client.get(path)
        page = await response.text()
        assert response.status == 404 and response.content_type == "text/html"
        assert "<h1>No such channel</h1>" in page and "nope" not in page and "<script" not in page
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    empty = await (await client.get("/incidents")).text()
    assert "No incidents recorded." in empty and "Page 1 of" not in empty


async def test_hostile_probe_text_is_only_escaped_text(tmp_path, aiohttp_client, aiohttp_server):
    hostile = FakeChannel()
    hostile.body = HOSTILE  # the server's own text ends up in the error and in the condition's actual value
    url = (await serve(aiohttp_server, hostile)).url
    config = cfg.config(
        [shop("shop", "Shop", "own_shop", url, conditions=['[BODY_TEXT] == "ok"'])], data_dir=tmp_path, defaults=cfg.HALF_SECOND
    )
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: app[MONITOR].book.health["shop"].state.value == "down")
    error = app[MONITOR].pipeline.latest[("shop", "home")].result.error
    assert HOSTILE in error  # the probe does carry the server's text: the pages must defuse it
    await eventually(lambda: incident_count(app))
    for path in ("/", "/channels/shop", "/incidents"):
        page = await (await client.get(path)).text()
        html = Html(page)
        assert HOSTILE in html.all_text, path  # shown, as text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onmouseover=&#34;x javascript:alert(1)" in page, path
        assert "<script" not in page.lower() and '"onmouseover="' not in page, path
        for tag, attrs in html.tags:  # and never in an attribute or a link
            for name, value in attrs.items():
                assert not name.startswith("on"), (path, tag, name)
                assert not any(bad in (value or "").lower() for bad in ("alert(", "javascript:", "onmouseover")), (path, tag, name, value)
    channel = Html(await (await client.get("/channels/shop")).text()).all_text
    assert re.search(r"fail\s*\[BODY_TEXT\] == \"ok\"\s*actual\s*" + re.escape(HOSTILE), channel)
    assert "condition_failed" in channel


async def test_figures_cache_serves_the_last_value_while_it_refreshes(clock):
    calls: list[float] = []
    slow_database = asyncio.Event()  # the background refresh waits for it: a reader that waited for it would hang

    async def compute(_model) -> int:
        calls.append(clock())
        if len(calls) == 2:
            await slow_database.wait()
        return len(calls)

    cache = Cached(0.1, compute, wait_after=2.0, clock=clock)
    assert await cache.get(None) == 1  # the first value is waited for
    assert await cache.get(None) == 1 and len(calls) == 1
    clock.advance(0.15)
    assert await asyncio.wait_for(cache.get(None), 1) == 1  # stale: served at once, refreshed behind
    task = cache.refreshing
    assert task is not None
    assert await cache.get(None) == 1 and cache.refreshing is task  # one refresh at a time
    slow_database.set()
    await task
    assert await cache.get(None) == 2 and len(calls) == 2
    cache.wait_after = 0.1
    clock.advance(0.15)
    assert await cache.get(None) == 3  # too old to show: waited for
