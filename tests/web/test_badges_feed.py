"""SVG badges and the Atom feed on a running service: well-formed XML, colours by state, escaping."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest
import yaml
from sqlalchemy import func, select

from monitor.app import create_app
from monitor.config import parse_config
from monitor.health import State
from monitor.running import MONITOR
from monitor.store.models import IncidentRow, ProbeResultRow
from monitor.web.badges import STATE_COLOURS, badge, uptime_text
from monitor.web.feed import atom
from tests.fakes import FakeChannel, eventually
from tests.support.service import incidents

SVG = "{http://www.w3.org/2000/svg}"
A = "{http://www.w3.org/2005/Atom}"
NAME = "Shop <&\"> 'x'"
HOSTILE = '<script>alert("pwn")</script><a href="javascript:alert(1)">&amp;'
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def results(app, channel: str, state: str) -> int:
    with app[MONITOR].engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(ProbeResultRow).where(ProbeResultRow.channel == channel, ProbeResultRow.channel_state == state)
        ).scalar_one()


@pytest.fixture
async def world(tmp_path, aiohttp_server, aiohttp_client):
    """good (named with markup characters) is up; bad is down with hostile text in its cause."""
    good, bad = FakeChannel(), FakeChannel()
    bad.body += HOSTILE
    urls = [str((await aiohttp_server(f.app)).make_url("/")) for f in (good, bad)]
    doc = {
        "data_dir": str(tmp_path),
        "allow_networks": ["127.0.0.0/8"],
        "defaults": {"interval": "200ms", "timeout": "150ms", "fail_threshold": 2, "recover_threshold": 2},
        "channels": [
            {
                "id": cid,
                "name": name,
                "checks": [{"kind": "http", "id": "home", "target": url, "body_contains": ["Add to cart"], "body_not_contains": [HOSTILE]}],
            }
            for cid, name, url in (("good", NAME, urls[0]), ("bad", "Bad", urls[1]))
        ],
    }
    app = create_app(parse_config(yaml.safe_dump(doc)), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: results(app, "good", "up") and results(app, "bad", "down") and incidents(app))
    return app, client


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    # Self-contained: the only URL is the SVG namespace, fragments only point inside the document.
    assert re.findall(r"https?://[^\"']*", text) == ["http://www.w3.org/2000/svg"]
    assert set(re.findall(r"url\(([^)]*)\)", text)) <= {"#r", "#s"} and "href" not in text
    return root


def parts(root: ET.Element) -> tuple[str, str, str, str]:
    """(aria-label, title, value colour, texts) of a badge."""
    rects = root.findall(f"{SVG}g/{SVG}rect")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[0] == texts[1] and texts[2] == texts[3]  # shadow and text
    return root.get("aria-label"), root.find(f"{SVG}title").text, rects[1].get("fill"), f"{texts[0]}|{texts[2]}"


async def test_status_badges_colour_and_escape(world):
    _app, client = world
    response = await client.get("/badge/good/status.svg")
    assert response.status == 200 and response.content_type == "image/svg+xml"
    assert response.headers["Cache-Control"] == "max-age=30"
    text = await response.text()
    assert parts(parse_svg(text)) == (f"{NAME}: up", f"{NAME}: up", "#4c1", f"{NAME}|up")
    assert NAME not in text and "Shop &lt;&amp;" in text  # escaped in the document, intact once parsed
    bad = parse_svg(await (await client.get("/badge/bad/status.svg")).text())
    assert parts(bad)[2:] == ("#e05d44", "Bad|down")
    root = parse_svg(await (await client.get("/badge/good/uptime-30d.svg")).text())
    assert parts(root) == (f"{NAME}: 100%", f"{NAME}: 100%", "#4c1", f"{NAME}|100%")
    assert parts(parse_svg(await (await client.get("/badge/bad/uptime-30d.svg")).text()))[2:] == ("#e05d44", "Bad|0.00%")


async def test_unknown_channel_gets_a_404_badge(world):
    _app, client = world
    for path in ("/badge/nope<x>/status.svg", "/badge/nope/uptime-30d.svg"):
        response = await client.get(path)
        assert response.status == 404 and response.content_type == "image/svg+xml"
        text = await response.text()
        assert parts(parse_svg(text))[3] == "status|unknown channel" and "nope" not in text


def test_badge_colours_widths_and_uptime_thresholds():
    assert STATE_COLOURS == {
        State.UP: "#4c1",
        State.DEGRADED: "#dfb317",
        State.DOWN: "#e05d44",
        State.MAINTENANCE: "#007ec6",
        State.UNKNOWN: "#9f9f9f",
    }
    for state, colour in STATE_COLOURS.items():
        root = parse_svg(badge("Allegro", state.value, colour))
        assert parts(root)[2] == colour
        assert root.get("width") == str(len("Allegro") * 7 + 10 + len(state.value) * 7 + 10)
    assert badge("a", "b", "#4c1") == badge("a", "b", "#4c1")  # deterministic
    assert parts(parse_svg(badge("bell\x07\ud800", "x", "#4c1")))[3] == "bell\ufffd\ufffd|x"  # XML-illegal characters
    assert [uptime_text(s) for s in (None, 1.0, 0.99999, 0.9995, 0.995, 0.96, 0.91, 0.5)] == [
        ("no data", "#9f9f9f"),
        ("100%", "#4c1"),
        ("99.99%", "#4c1"),
        ("99.95%", "#4c1"),
        ("99.50%", "#97ca00"),
        ("96.00%", "#dfb317"),
        ("91.00%", "#fe7d37"),
        ("50.00%", "#e05d44"),
    ]  # rounded down: never a false 100%


async def test_atom_feed_lists_incidents_and_escapes_causes(world):
    app, client = world
    response = await client.get("/feed.atom")
    assert response.status == 200 and response.content_type == "application/atom+xml"
    raw = await response.text()
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    feed = ET.fromstring(raw)
    assert feed.tag == f"{A}feed" and feed.find(f"{A}id").text == "tag:channel-monitor,2026:incidents"
    assert ISO.match(feed.find(f"{A}updated").text) and feed.find(f"{A}author/{A}name").text
    status_url = str(client.make_url("/"))
    assert {(link.get("rel"), link.get("href")) for link in feed.findall(f"{A}link")} == {
        ("self", status_url + "feed.atom"),
        ("alternate", status_url),
    }
    [row] = incidents(app)
    [entry] = feed.findall(f"{A}entry")
    assert entry.find(f"{A}id").text == f"tag:channel-monitor,2026:incident-{row.id}"
    assert entry.find(f"{A}title").text == "Bad is down"
    assert ISO.match(entry.find(f"{A}published").text) and entry.find(f"{A}updated").text == entry.find(f"{A}published").text
    assert entry.find(f"{A}link").get("href") == status_url
    content = entry.find(f"{A}content")
    assert content.get("type") == "text"
    lines = content.text.split("\n")
    assert lines[0] == f"Cause: home: body contains {HOSTILE!r}"  # the hostile text, intact as text
    assert lines[1].startswith("Started: ") and lines[2] == "Ended: not yet (ongoing)" and lines[3] == "Duration: ongoing"


def test_atom_of_a_resolved_incident_with_unprintable_cause():
    started = 1_790_000_000.0
    row = IncidentRow(
        id=7,
        channel="allegro",
        started_at=started,
        ended_at=started + 312.5,
        cause='{"check": "home", "error": "bad \\u0001 <b>bytes</b> & more"}',
    )
    gone = IncidentRow(id=8, channel="removed", started_at=started + 1000, cause="not json")
    feed = ET.fromstring(
        atom([gone, row], {"allegro": "Allegro & Co"}, "https://status.example.com/", "https://status.example.com/feed.atom", time.time())
    )
    first, second = feed.findall(f"{A}entry")
    assert first.find(f"{A}title").text == "removed is down"
    assert first.find(f"{A}content").text.startswith("Cause: No cause recorded.\n")
    assert second.find(f"{A}title").text == "Allegro & Co was down for 5m 12s"
    assert second.find(f"{A}updated").text == "2026-09-21T14:18:32.500Z"
    assert second.find(f"{A}content").text.split("\n") == [
        "Cause: home: bad \ufffd <b>bytes</b> & more",
        "Started: 2026-09-21 14:13:20 UTC",
        "Ended: 2026-09-21 14:18:32 UTC",
        "Duration: 5m 12s",
    ]
    assert feed.find(f"{A}updated").text == "2026-09-21T14:30:00.000Z"  # the latest entry's
