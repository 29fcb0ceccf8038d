"""The web layer serves its pages and APIs around a hand-written read model: no probe, database or scheduler."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.web.read_model import (
    AdminActions,
    Approved,
    ChannelInfo,
    ChannelStatus,
    CheckInfo,
    Connectivity,
    Health,
    Incident,
    ReadModel,
    WebSettings,
)
from monitor.web.routes import ROUTES, web_app

NOW = 1_800_000_000.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error_class: str | None = None
    error: str | None = None
    severity: str = "down"
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Latest:
    kind: str
    at: float
    duration_seconds: float
    result: Outcome
    conditions: tuple = ()


class FakeModel:
    """Two channels: the shop is down (connection refused), Allegro is up; one open incident."""

    started_at = NOW - 3600

    def __init__(self, healthy: bool = True) -> None:
        self.healthy = healthy
        self._channels = {
            "shop": ChannelInfo("shop", "Our Shop", "own_shop", (CheckInfo("home", "http", 30.0),)),
            "allegro": ChannelInfo("allegro", "Allegro", "marketplace", (CheckInfo("storefront", "http", 60.0),)),
        }
        self._status = {
            "shop": ChannelStatus(State.DOWN, NOW - 600, {"check": "home", "error": "connection refused"}),
            "allegro": ChannelStatus(State.UP, NOW - 3000),
        }
        self._latest = {
            ("shop", "home"): Latest("http", NOW - 5, 0.012, Outcome(False, "connect_refused", "connection refused")),
            ("allegro", "storefront"): Latest("http", NOW - 7, 0.25, Outcome(True)),
        }
        self.overrides: dict[str, Override | None] = {}

    def now(self) -> float:
        return NOW

    def channels(self):
        return self._channels

    def status(self, channel: str) -> ChannelStatus:
        return self._status.get(channel, ChannelStatus())

    def check_state(self, channel: str, check: str) -> State:
        return self._status[channel].state

    def latest(self, channel: str, check: str):
        return self._latest.get((channel, check))

    def locations(self, channel: str, check: str):
        return None  # one location

    def slack_approvals(self):
        return None  # no Slack buttons: /slack/interactions answers 404

    async def first_click(self, key: str) -> bool:
        return True

    async def slack_group_members(self, group: str) -> set[str]:
        return set()

    async def slack_respond(self, url: str, payload: dict) -> None:
        raise AssertionError("no click reaches a fake without Slack buttons")

    def windows(self):
        return {"shop": [], "allegro": [Window("Allegro API upgrade", start=NOW + 3600, end=NOW + 7200, by="ops")]}

    def alert_problems(self) -> dict[str, str]:
        return {}

    def connectivity(self) -> Connectivity:
        return Connectivity(False, "")

    def health(self) -> Health:
        return Health(self.healthy, self.healthy, 0, False)

    def failover_enabled(self) -> bool:
        return False

    def promotion_names(self):
        return {}

    def render_metrics(self) -> bytes:
        return b"channel_monitor_up 1\n"

    async def settle(self) -> None:
        pass

    async def uptime(self, now: float):
        return {"shop": {"24h": 0.9, "7d": 0.99, "30d": 0.995, "90d": None}, "allegro": {"24h": 1.0}}

    async def daily_history(self, now: float, days: int):
        return {}

    async def latency(self, channel: str, since: float, now: float):
        return {}

    async def incidents(self, limit: int, *, channel: str | None = None, open_only: bool = False) -> list[Incident]:
        rows = [Incident(1, "shop", NOW - 600, None, json.dumps(self._status["shop"].cause))]
        return [r for r in rows if channel in (None, r.channel)][:limit]

    async def open_incidents(self) -> list[Incident]:
        return await self.incidents(50)

    async def incident_page(self, page: int, per_page: int):
        rows = await self.incidents(per_page)
        return (rows if page == 1 else []), len(rows)

    async def plans_for_incidents(self, incidents, now: float):
        return {}

    async def results(self, channel: str, check: str | None, limit: int, before: float | None):
        return []

    async def failover_summary(self, plans: int = 20) -> dict[str, Any]:
        return {"promotions": [], "notices": [], "plans": []}

    # AdminActions
    async def set_override(self, channel: str, override: Override | None) -> None:
        self.overrides[channel] = override

    async def add_window(self, channel: str, window: Window) -> int:
        return 1

    async def remove_window(self, channel: str, window_id: int) -> bool:
        return False

    async def maintenance_windows(self, channel: str) -> list[Window]:
        return []

    async def approve_plan(self, plan_id: int, by: str) -> Approved:
        raise LookupError("nothing to approve")

    async def reject_plan(self, plan_id: int, by: str) -> tuple[str, str]:
        raise LookupError("nothing to reject")

    async def set_frozen(self, owner: tuple[str, str], frozen: bool, by: str, reason: str) -> None:
        pass

    def notifier_details(self) -> dict[str, dict[str, Any]]:
        return {}


@pytest.mark.parametrize("protocol", [ReadModel, AdminActions], ids=["read_model", "admin_actions"])
def test_the_fake_and_the_monitor_adapter_answer_every_question_of_the_protocol(protocol):
    from monitor.readmodel import MonitorReadModel

    asked = {name for name in vars(protocol) if not name.startswith("_")}
    assert asked and asked <= set(dir(FakeModel)) and asked <= set(dir(MonitorReadModel))


async def test_pages_and_apis_render_from_a_fake_read_model(aiohttp_client):
    model = FakeModel()
    client = await aiohttp_client(web_app(model, model, WebSettings(admin_token="t0ken")))

    overview = await client.get("/")
    text = await overview.text()
    assert overview.status == 200 and overview.headers["X-Content-Type-Options"] == "nosniff"
    assert "Our Shop" in text and "Allegro" in text and "home: connection refused" in text
    assert "Allegro API upgrade" in text  # upcoming maintenance is announced

    channel = await client.get("/channels/shop")
    assert channel.status == 200 and "connection refused" in await channel.text()
    assert (await client.get("/channels/nope")).status == 404

    channels = await (await client.get("/api/channels")).json()
    assert channels["connectivity"] == {"lost": False, "reason": "", "overloaded": False, "overload_reason": None}
    shop = channels["channels"][0]
    assert (shop["id"], shop["state"], shop["cause"], shop["uptime_24h"]) == ("shop", "down", "home: connection refused", 0.9)
    assert shop["checks"][0] | {"interval": "30s"} == shop["checks"][0] and shop["checks"][0]["error_class"] == "connect_refused"

    summary = await (await client.get("/api/v2/summary.json")).json()
    assert summary["status"]["indicator"] == "critical"  # half the channels are down
    assert [c["id"] for c in summary["components"]] == ["group.own_shop", "shop", "group.marketplace", "allegro"]
    assert [i["name"] for i in summary["incidents"]] == ["Our Shop is down"]

    health = await client.get("/healthz")
    assert health.status == 200 and await health.json() == {
        "status": "ok",
        "scheduler_running": True,
        "writer_queue_depth": 0,
        "database_failing": False,
        "overloaded": False,
        "probes_in_flight": 0,
    }
    assert (await (await client.get("/metrics")).text()) == "channel_monitor_up 1\n"


async def test_healthz_fails_and_admin_routes_act_through_the_admin_actions(aiohttp_client):
    model = FakeModel(healthy=False)
    client = await aiohttp_client(web_app(model, model, WebSettings(admin_token="t0ken")))
    assert (await client.get("/healthz")).status == 503
    forced = await client.put(
        "/api/admin/channels/allegro/override",
        json={"state": "down", "by": "anna", "reason": "move"},
        headers={"Authorization": "Bearer t0ken"},
    )
    assert forced.status == 200 and model.overrides["allegro"].by == "anna"
    assert (await client.put("/api/admin/channels/allegro/override", json={})).status == 401


def test_every_route_has_a_unique_method_and_path_and_a_documented_handler():
    pairs = [(r.method, r.path) for r in ROUTES]
    assert len(pairs) == len(set(pairs))
    assert [r.path for r in ROUTES if not r.handler.__doc__] == []


def test_importing_the_web_layer_imports_no_runtime():
    code = (
        "import sys, monitor.web.routes; print(sorted(m for m in sys.modules if m.split('.')[0] in ('probes', 'alerts') "
        "or m in ('monitor.service', 'monitor.running', 'monitor.config', 'monitor.scheduler', 'monitor.pipeline', "
        "'monitor.failover.engine', 'monitor.demo')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
