""" "Is it us?": when the monitor's own network fails, channels freeze instead of all going down."""

from __future__ import annotations

import socket

from monitor.app import create_app
from monitor.config import parse_config
from monitor.connectivity import ConnectivityGuard
from monitor.running import MONITOR
from tests.fakes import FakeChannel, Recorder, eventually, immediate_alerts


def test_share_of_failing_channels_trips_and_restores():
    guard = ConnectivityGuard(max_failing_share=0.75, min_channels=3)
    assert [guard.channel_result(c, "home", True) for c in "abc"] == [None, None, True]  # judged from 3 channels on
    assert guard.lost and guard.reason == "3 of 3 channels are failing at once"
    assert guard.channel_result("a", "home", False) is False  # 2 of 3 is below 75%


def test_a_few_failing_channels_are_not_us():
    guard = ConnectivityGuard(max_failing_share=0.75, min_channels=3)
    for c in "abcdefgh":
        guard.channel_result(c, "home", False)
    for c in "abcd":  # the four Meta channels on 4 October 2021
        assert guard.channel_result(c, "home", True) is None
    assert not guard.lost


def test_a_channel_fails_only_when_enough_of_its_checks_do():
    guard = ConnectivityGuard(max_failing_share=0.5, min_channels=2)
    for c in "ab":  # each has a broken secondary check but a working home page
        guard.channel_result(c, "home", False, needed=1)
        guard.channel_result(c, "api", True, needed=2)
        guard.channel_result(c, "home", False, needed=2)
    assert not guard.lost and guard.failing == set()


def test_channels_in_maintenance_are_left_out():
    guard = ConnectivityGuard(max_failing_share=0.5, min_channels=2)
    guard.channel_result("a", "home", False)
    guard.channel_result("b", "home", True, excluded=True)
    guard.channel_result("c", "home", True, excluded=True)
    assert not guard.lost and guard.reporting == {"a"}


def test_control_targets_all_failing_trip_the_guard():
    guard = ConnectivityGuard(control_fail_threshold=2)
    assert guard.control_result("resolver-1", False) is None
    assert guard.control_result("resolver-2", False) is None
    assert guard.control_result("resolver-1", False) is None  # resolver-2 has failed once only
    assert guard.control_result("resolver-2", False) is True
    assert guard.reason == "all 2 control targets are failing"
    assert guard.control_result("resolver-1", True) is False


async def test_everything_failing_at_once_freezes_states_and_alerts_once(tmp_path, aiohttp_client, aiohttp_server):
    shops = [FakeChannel() for _ in range(4)]
    urls = [str((await aiohttp_server(s.app)).make_url("/")) for s in shops]
    channels = "\n".join(f"  - {{id: c{i}, name: C{i}, checks: [{{kind: http, target: '{u}'}}]}}" for i, u in enumerate(urls))
    config = parse_config(
        f"""data_dir: {tmp_path}
allow_networks: [127.0.0.0/8]
defaults: {{interval: 200ms, timeout: 150ms, fail_threshold: 3, recover_threshold: 1}}
channels:
{channels}
""",
    )
    recorder = Recorder()
    app = create_app(immediate_alerts(config), notifiers=[recorder], flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
    for shop in shops:  # our own network "fails": every target stops answering at once
        shop.mode = "error"
    await eventually(lambda: monitor.book.connectivity_lost)
    before = sum(s.hits for s in shops)
    await eventually(lambda: sum(s.hits for s in shops) > before + 12)  # three more rounds of failures
    assert all(h.state.value == "up" for h in monitor.book.health.values())  # frozen, not down
    body = await (await client.get("/api/channels")).json()
    assert body["connectivity"] == {
        "lost": True,
        "reason": "4 of 4 channels are failing at once",
        "overloaded": False,
        "overload_reason": None,
    }
    assert "Monitor connectivity lost" in await (await client.get("/")).text()
    for shop in shops:
        shop.mode = "ok"
    await eventually(lambda: not monitor.book.connectivity_lost)
    await eventually(lambda: len(recorder.sent) == 2)
    assert [a.event for a in recorder.sent] == ["connectivity_lost", "connectivity_restored"]  # no down alerts


async def test_failing_control_target_freezes_states(tmp_path, aiohttp_client, fake_channel):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    config = parse_config(
        f"""data_dir: {tmp_path}
allow_networks: [127.0.0.0/8]
defaults: {{interval: 200ms, timeout: 150ms}}
connectivity:
  checks: [{{kind: tcp, id: cdn, target: '127.0.0.1:{closed}'}}]
channels:
  - {{id: shop, name: Shop, checks: [{{kind: http, target: '{fake_channel.url}'}}]}}
""",
    )
    app = create_app(config, flush_interval=0.05)
    await aiohttp_client(app)
    await eventually(lambda: app[MONITOR].book.connectivity_lost)
    assert app[MONITOR].book.guard.reason == "all 1 control targets are failing"
    assert app[MONITOR].metrics.connectivity_lost._value.get() == 1


async def test_a_control_probe_in_flight_is_cut_off_quietly_at_stop(tmp_path, aiohttp_client, aiohttp_server, caplog):
    hanging = FakeChannel()
    hanging.mode = "hang"
    url = str((await aiohttp_server(hanging.app)).make_url("/"))
    config = parse_config(
        f"""data_dir: {tmp_path}
allow_networks: [127.0.0.0/8]
defaults: {{interval: 2m, timeout: 1m}}
connectivity:
  checks: [{{kind: http, id: cdn, target: '{url}'}}]
channels:
  - {{id: shop, name: Shop, checks: [{{kind: http, target: '{url}'}}]}}
""",
    )
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    # Both hang (a long interval: each gets its early first run within seconds, and a minute's timeout).
    await eventually(lambda: hanging.hits >= 2)
    assert len(monitor.pipeline._inflight) == 2  # the control probe is tracked like a check
    await client.close()  # stop: both are cut off
    assert monitor.pipeline._inflight == set()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
