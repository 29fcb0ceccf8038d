"""The Statuspage v2-compatible API on a running service (loopback channels), checked field by field
against the public v2 shapes, and read back by our own `statuspage` probe."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from monitor.app import create_app
from monitor.config import parse_config
from monitor.health import State
from monitor.maintenance import Window
from monitor.runner import run_probe
from monitor.running import MONITOR
from monitor.web.statuspage import indicator, occurrences, span
from probes import PROBES
from probes.session import create_http_session
from tests.fakes import LOOPBACK, FakeChannel, eventually
from tests.support.probes import build_check
from tests.support.service import incidents, state

OK_BODY = "<h1>Shop</h1><button>Add to cart</button>"
HOSTILE = '<script>alert("pwn")</script><a href="javascript:alert(1)">&amp;'
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
MAINTENANCE_KEYS = INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
IMPACTS = {"none", "minor", "major", "critical", "maintenance"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}


def at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def parse_iso(text: str) -> float:
    assert ISO.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def config(tmp_path, urls: dict[str, str], now: float, interval: str = "200ms", **top: Any):
    """allegro and amazon (marketplace), shop (own shop); windows: future on amazon+shop, recurring and past on shop."""

    def channel(cid: str, group: str, maintenance: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": cid,
            "name": cid.title(),
            "group": group,
            "maintenance": maintenance,
            "checks": [
                {"kind": "http", "id": "home", "target": urls[cid], "body_contains": ["Add to cart"], "body_not_contains": [HOSTILE]}
            ],
        }

    start = int(now) + 86400
    move = {"reason": "Warehouse move", "start": at(start), "end": at(start + 7200)}
    hour = (datetime.fromtimestamp(now, UTC).hour + 12) % 24  # never running now; next within a day
    nightly = {"reason": "Nightly reindex", "cron": f"0 {hour} * * *", "duration": "1h"}
    old = {"reason": "Old migration", "start": at(int(now) - 2 * 86400), "end": at(int(now) - 2 * 86400 + 3600)}
    doc = {
        "data_dir": str(tmp_path),
        "allow_networks": ["127.0.0.0/8"],
        "defaults": {"interval": interval, "timeout": "150ms", "fail_threshold": 2, "recover_threshold": 2},
        "flapping": {"reopen_within": "0s"},  # allegro's second outage, a second later, is its own incident
        "channels": [
            channel("allegro", "marketplace", []),
            channel("amazon", "marketplace", [move]),
            channel("shop", "own_shop", [move, nightly, old]),
        ],
        **top,
    }
    return parse_config(yaml.safe_dump(doc))


@pytest.fixture
async def world(tmp_path, aiohttp_server, aiohttp_client):
    """allegro broken (hostile text), healed, broken again; amazon in an admin maintenance window; shop up."""
    fakes = {cid: FakeChannel() for cid in ("allegro", "amazon", "shop")}
    urls = {cid: str((await aiohttp_server(f.app)).make_url("/")) for cid, f in fakes.items()}
    fakes["allegro"].body = OK_BODY + HOSTILE
    app = create_app(config(tmp_path, urls, time.time()), flush_interval=0.05)
    client = await aiohttp_client(app)
    await app[MONITOR].admin.add_window(
        "amazon", Window("Amazon API migration", start=time.time() - 60, end=time.time() + 3600, by="ops@example.com")
    )
    await eventually(lambda: len(incidents(app)) == 1)
    fakes["allegro"].body = OK_BODY
    await eventually(lambda: incidents(app)[0].ended_at is not None)
    fakes["allegro"].body = OK_BODY + HOSTILE
    await eventually(lambda: len(incidents(app)) == 2 and state(app, "allegro") == "down")
    await eventually(lambda: state(app, "shop") == "up" and state(app, "amazon") == "maintenance")
    return app, client


async def get(client, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status == 200, path
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "max-age=10"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return await response.json()


def check_page(page: dict[str, Any], client) -> None:
    assert set(page) == PAGE_KEYS
    assert page["id"] == "channel-monitor" and page["name"] == "Channel status" and page["time_zone"] == "Etc/UTC"
    assert page["url"] == str(client.make_url("/"))
    parse_iso(page["updated_at"])


def check_component(c: dict[str, Any]) -> None:
    assert set(c) == COMPONENT_KEYS | ({"components"} if c["group"] else set())
    assert isinstance(c["id"], str) and isinstance(c["name"], str) and c["status"] in COMPONENT_STATUSES
    assert isinstance(c["position"], int) and c["position"] >= 1 and c["page_id"] == "channel-monitor"
    assert c["description"] is None and c["start_date"] is None and c["only_show_if_degraded"] is False
    assert parse_iso(c["created_at"]) <= parse_iso(c["updated_at"])
    if c["group"]:
        assert c["group_id"] is None and c["showcase"] is False and all(isinstance(i, str) for i in c["components"])
    else:
        assert isinstance(c["group_id"], str) and c["showcase"] is True


def check_update(u: dict[str, Any], parent: str, statuses: set[str]) -> None:
    assert set(u) == UPDATE_KEYS
    assert isinstance(u["id"], str) and u["incident_id"] == parent and u["status"] in statuses
    assert isinstance(u["body"], str) and 0 < len(u["body"]) <= 500
    assert u["created_at"] == u["updated_at"] == u["display_at"] and parse_iso(u["created_at"])
    assert u["affected_components"] is None and u["deliver_notifications"] is False
    assert u["custom_tweet"] is None and u["tweet_id"] is None


def check_incident(i: dict[str, Any], url: str) -> None:
    assert set(i) == INCIDENT_KEYS
    assert isinstance(i["id"], str) and i["page_id"] == "channel-monitor" and i["shortlink"] == url
    assert i["impact"] == "major" and i["monitoring_at"] is None
    assert i["name"] == "Allegro is down" and [c["id"] for c in i["components"]] == ["allegro"]
    for c in i["components"]:
        check_component(c)
    assert i["created_at"] == i["started_at"]
    if i["status"] == "resolved":
        assert i["resolved_at"] == i["updated_at"] and parse_iso(i["resolved_at"]) >= parse_iso(i["started_at"])
        assert [u["status"] for u in i["incident_updates"]] == ["resolved", "investigating"]  # newest first
        assert i["incident_updates"][0]["body"].startswith("Allegro is up again after ")
    else:
        assert i["status"] == "investigating" and i["resolved_at"] is None and i["updated_at"] == i["started_at"]
        assert [u["status"] for u in i["incident_updates"]] == ["investigating"]
    for u in i["incident_updates"]:
        check_update(u, i["id"], {"investigating", "resolved"})
    # Probe text stays plain text: no HTML escaping in JSON, and nothing else is added.
    assert i["incident_updates"][-1]["body"] == f"home: body contains {HOSTILE!r}"


def check_maintenance(m: dict[str, Any], url: str) -> None:
    assert set(m) == MAINTENANCE_KEYS
    assert m["impact"] == "maintenance" and m["status"] in {"scheduled", "in_progress", "completed"}
    assert m["page_id"] == "channel-monitor" and m["shortlink"] == url and m["monitoring_at"] is None
    assert parse_iso(m["scheduled_for"]) < parse_iso(m["scheduled_until"]) and m["started_at"] == m["scheduled_for"]
    assert (m["resolved_at"] is not None) == (m["status"] == "completed")
    assert [u["status"] for u in m["incident_updates"]] == {
        "scheduled": ["scheduled"],
        "in_progress": ["in_progress", "scheduled"],
        "completed": ["completed", "in_progress", "scheduled"],
    }[m["status"]]
    assert m["updated_at"] == m["incident_updates"][0]["created_at"]
    for u in m["incident_updates"]:
        check_update(u, m["id"], {"scheduled", "in_progress", "completed"})
    for c in m["components"]:
        check_component(c)


def maintenance_view(items: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    return sorted((m["name"], m["status"], [c["id"] for c in m["components"]]) for m in items)


async def test_v2_documents_field_by_field(world):
    app, client = world
    url = str(client.make_url("/"))
    summary = await get(client, "/api/v2/summary.json")
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    check_page(summary["page"], client)

    components = summary["components"]
    for c in components:
        check_component(c)
    assert [(c["id"], c["position"], c["status"], c["group_id"]) for c in components] == [
        ("group.marketplace", 1, "major_outage", None),  # a group shows its worst channel
        ("allegro", 1, "major_outage", "group.marketplace"),
        ("amazon", 2, "under_maintenance", "group.marketplace"),
        ("group.own_shop", 2, "operational", None),
        ("shop", 1, "operational", "group.own_shop"),
    ]
    assert [c["name"] for c in components] == ["Marketplaces", "Allegro", "Amazon", "Own shop", "Shop"]
    assert components[0]["components"] == ["allegro", "amazon"] and components[3]["components"] == ["shop"]
    assert parse_iso(components[1]["updated_at"]) == pytest.approx(app[MONITOR].book.health["allegro"].since, abs=0.001)
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}  # 1 of 3 down

    [open_] = summary["incidents"]
    check_incident(open_, url)
    assert open_["status"] == "investigating" and open_["id"] == str(incidents(app)[1].id)
    assert maintenance_view(summary["scheduled_maintenances"]) == [
        ("Amazon API migration", "in_progress", ["amazon"]),
        ("Nightly reindex", "scheduled", ["shop"]),
        ("Warehouse move", "scheduled", ["amazon", "shop"]),
    ]  # one window on two channels is one maintenance

    status = await get(client, "/api/v2/status.json")
    assert set(status) == {"page", "status"} and status["status"] == summary["status"]
    check_page(status["page"], client)
    assert set(status["status"]) == {"indicator", "description"} and status["status"]["indicator"] in INDICATORS

    listed = await get(client, "/api/v2/components.json")
    assert set(listed) == {"page", "components"} and listed["components"] == components

    every = await get(client, "/api/v2/incidents.json")
    assert set(every) == {"page", "incidents"}
    assert [i["status"] for i in every["incidents"]] == ["investigating", "resolved"]  # newest first
    for i in every["incidents"]:
        check_incident(i, url)
    unresolved = await get(client, "/api/v2/incidents/unresolved.json")
    assert set(unresolved) == {"page", "incidents"} and unresolved["incidents"] == summary["incidents"]

    planned = await get(client, "/api/v2/scheduled-maintenances.json")
    assert set(planned) == {"page", "scheduled_maintenances"}
    for m in planned["scheduled_maintenances"]:
        check_maintenance(m, url)
    assert maintenance_view(planned["scheduled_maintenances"]) == sorted(
        maintenance_view(summary["scheduled_maintenances"]) + [("Old migration", "completed", ["shop"])]
    )
    starts = [parse_iso(m["scheduled_for"]) for m in planned["scheduled_maintenances"]]
    assert starts == sorted(starts, reverse=True)
    upcoming = await get(client, "/api/v2/scheduled-maintenances/upcoming.json")
    active = await get(client, "/api/v2/scheduled-maintenances/active.json")
    assert {m["status"] for m in upcoming["scheduled_maintenances"]} == {"scheduled"}
    assert maintenance_view(active["scheduled_maintenances"]) == [("Amazon API migration", "in_progress", ["amazon"])]
    assert "ops@example.com" not in await (await client.get("/api/v2/scheduled-maintenances.json")).text()


async def test_our_statuspage_probe_reads_our_page(world):
    _app, client = world
    target = str(client.make_url("/api/v2/summary.json"))
    session = create_http_session("test", LOOPBACK)
    try:

        async def probe(**options: Any):
            channel, check = build_check(target, kind="statuspage", channel_id="self", channel_name="Self", **options)
            return (await run_probe(PROBES["statuspage"], channel, check, session, time.time, LOOPBACK)).result

        broken = await probe(components=["Allegro"])
        assert (broken.ok, broken.error_class, broken.severity) == (False, "vendor_outage", "down")
        assert broken.error == "Channel status status: Allegro major_outage"
        healthy = await probe(components=["shop"])
        assert healthy.ok and healthy.facts["worst_status"] == "operational" and healthy.facts["indicator"] == "major"
        group = await probe(components=["Marketplaces"])  # a group's name picks its channels
        assert group.error_class == "vendor_outage" and group.facts["components_checked"] == 2
        page = await probe()  # no components: the page indicator decides
        assert (page.error_class, page.severity) == ("vendor_degraded", "degraded")
        assert "Partial System Outage (indicator major)" in page.error
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("states", "lost", "expected"),
    [
        ([], False, ("none", "All Systems Operational")),
        ([State.UP, State.UP], False, ("none", "All Systems Operational")),
        ([State.UP, State.UNKNOWN], False, ("none", "All Systems Operational")),  # not yet probed is no outage
        ([State.UP, State.MAINTENANCE], False, ("maintenance", "Service Under Maintenance")),
        ([State.UP, State.DEGRADED, State.MAINTENANCE], False, ("minor", "Minor Service Outage")),
        ([State.UP, State.UP, State.DOWN, State.DEGRADED], False, ("major", "Partial System Outage")),
        ([State.UP, State.DOWN], False, ("critical", "Major Service Outage")),  # half down
        ([State.DOWN, State.DOWN, State.UP], False, ("critical", "Major Service Outage")),
        ([State.UP, State.UP], True, ("critical", "Monitor Connectivity Lost")),
    ],
)
def test_indicator_table(states, lost, expected):
    assert indicator(states, lost) == expected


def test_recurring_window_is_announced_a_week_ahead_at_most():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()  # a Monday
    weekly = Window("weekly", cron="0 2 * * sun", duration=3600.0)  # next: Sunday 8 March, 02:00
    assert [o.start for o in occurrences(weekly, now)] == [datetime(2026, 3, 8, 2, tzinfo=UTC).timestamp()]
    monthly = Window("monthly", cron="0 2 1 * *", duration=3600.0)  # next: 1 April, beyond a week
    assert occurrences(monthly, now) == []
    running = Window("now", cron="0 12 * * *", duration=600.0)
    assert [o.start for o in occurrences(running, now + 60)] == [now]
    memo: dict = {}
    for step in range(0, 40 * 86400, 1799):  # the memo answers exactly as a fresh computation, across boundaries
        for window in (weekly, monthly, running):
            assert occurrences(window, now + step, memo=memo) == occurrences(window, now + step)
    assert span(0) == "0s" and span(312.7) == "5m 12s" and span(90061) == "1d 1h"


async def test_summary_with_200_channels_and_their_windows(tmp_path, aiohttp_client, aiohttp_server):
    """The shape at scale (its speed is measured by bench/page_bench.py, not here)."""
    target = str((await aiohttp_server(FakeChannel().app)).make_url("/"))
    lines = [f"data_dir: {tmp_path}", "allow_networks: [127.0.0.0/8]", "defaults: {interval: 1h, timeout: 1s}", "channels:"]
    groups = ["own_shop", "marketplace", "social", "comparison", "messaging", "other"]
    hour = (datetime.now(UTC).hour + 12) % 24  # a recurring window on every channel, due within a day
    for n in range(200):
        lines += [
            f"  - {{id: c{n}, name: Channel {n}, group: {groups[n % 6]}, checks: [{{kind: http, target: '{target}'}}],",
            f"     maintenance: [{{reason: Reindex {n % 3}, cron: '{n % 60} {hour} * * *', duration: 30m}}]}}",
        ]
    app = create_app(parse_config("\n".join(lines)), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: all(h.state is State.UP for h in app[MONITOR].book.health.values()), timeout=20)
    for n in range(60):
        if n % 10 == 0:  # a state change now and then rebuilds the components
            app[MONITOR].book.health[f"c{n}"].since = time.time()
        body = await get(client, "/api/v2/summary.json")
    assert len(body["components"]) == 206 and body["status"]["indicator"] == "none"
    assert len(body["scheduled_maintenances"]) == 50


async def test_page_url_from_config_and_unprobed_channels_are_operational(tmp_path, aiohttp_client):
    urls = {cid: "http://127.0.0.1:9/" for cid in ("allegro", "amazon", "shop")}  # refused: one failure per hour
    app = create_app(
        config(tmp_path, urls, time.time(), interval="1h", alerts={"status_url": "https://status.example.com/"}), flush_interval=0.05
    )
    client = await aiohttp_client(app)
    summary = await get(client, "/api/v2/summary.json")
    assert all(h.state is State.UNKNOWN for h in app[MONITOR].book.health.values())  # below fail_threshold
    assert summary["page"]["url"] == "https://status.example.com/"
    assert {c["status"] for c in summary["components"]} == {"operational"}
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert {m["shortlink"] for m in summary["scheduled_maintenances"]} == {"https://status.example.com/"}
