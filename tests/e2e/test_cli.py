"""The `channel-monitor` command as users run it: real processes, real signals, loopback targets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

import pytest

from tests.fakes import FakeChannel
from tests.support import ROOT
from tests.support.cli import EXE, Service, db_rows, free_port, run_cli, write_allegro_config


async def test_check_config_accepts_the_example():
    code, out, _ = await run_cli("check-config", "examples/channels.yaml")
    assert code == 0
    assert out.startswith("examples/channels.yaml: OK, 12 channels, 33 checks")
    assert "allegro" in out and "https://api.allegro.pl/" in out


async def test_check_config_rejects_bad_file_with_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "channels:\n  - id: x\n    name: X\n    checks:\n      - kind: http\n        target: https://x.pl/\n        interval: soon\n"
    )
    code, out, err = await run_cli("check-config", str(bad))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"1 problem(s) in {bad}:",
        f"{bad}:7: channels[0].checks[0].interval: 'soon' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d",
    ]


async def test_probe_once_json_prints_one_object_per_check(tmp_path, aiohttp_server):
    good, bad = FakeChannel(), FakeChannel()
    bad.mode = "error"
    good_url = str((await aiohttp_server(good.app)).make_url("/"))
    bad_url = str((await aiohttp_server(bad.app)).make_url("/"))
    path = write_allegro_config(tmp_path, good_url)
    path.write_text(
        path.read_text()
        + f"""  - id: amazon
    name: Amazon
    checks:
      - {{kind: http, target: '{bad_url}'}}
"""
    )
    code, out, err = await run_cli("probe-once", "--config", str(path), "--json")
    assert code == 1, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert list(first)[:8] == ["channel", "check", "kind", "ok", "error_class", "error", "duration_seconds", "facts"]
    assert (first["channel"], first["check"], first["ok"], first["facts"]["status"]) == ("allegro", "home", True, 200)
    assert (second["channel"], second["ok"], second["error_class"], second["error"]) == ("amazon", False, "http_status", "HTTP 503")
    bad.mode = "ok"
    code, out, _ = await run_cli("probe-once", "--config", str(path))
    assert code == 0
    assert out.splitlines()[0].split() == ["CHANNEL", "CHECK", "KIND", "RESULT", "TIME", "WHY"]
    assert out.rstrip().endswith("2 of 2 checks passed")


async def test_run_stops_cleanly_on_sigterm_and_keeps_every_result(tmp_path, fake_channel):
    port = free_port()
    async with Service("--config", str(write_allegro_config(tmp_path, fake_channel.url)), "--listen", f"127.0.0.1:{port}") as svc:
        assert svc.first_line == f"Status page: http://127.0.0.1:{port}/\n"
        while fake_channel.hits < 5:
            await asyncio.sleep(0.05)
        code, err = await svc.stop(signal.SIGTERM)
    assert code == 0, err
    assert "stopping: finishing writes" in err and "Allegro (allegro): unknown -> up" in err
    [(stored,)] = db_rows(tmp_path, "select count(*) from probe_results")
    assert stored == fake_channel.hits  # every probe that reached the target was stored


@pytest.mark.parametrize(("args", "loop"), [((), "uvloop"), (("--event-loop", "asyncio"), "asyncio")], ids=["default", "asyncio"])
async def test_the_service_probes_on_uvloop_unless_asked_for_asyncio(tmp_path, fake_channel, args, loop):
    config = str(write_allegro_config(tmp_path, fake_channel.url))
    async with Service("--config", config, "--listen", f"127.0.0.1:{free_port()}", *args) as svc:
        while fake_channel.hits < 3:
            await asyncio.sleep(0.05)
        code, err = await svc.stop(signal.SIGTERM)
    assert code == 0, err
    assert f"event loop: {loop}" in err and "Allegro (allegro): unknown -> up" in err
    [(stored,)] = db_rows(tmp_path, "select count(*) from probe_results where ok")
    assert stored == fake_channel.hits


async def test_every_result_is_stored_with_the_location_it_was_taken_from(tmp_path, fake_channel):
    config = write_allegro_config(tmp_path, fake_channel.url)
    async with Service("--config", str(config), "--listen", f"127.0.0.1:{free_port()}", "--location", "waw-1") as svc:
        while fake_channel.hits < 2:
            await asyncio.sleep(0.05)
        code, err = await svc.stop(signal.SIGTERM)
    assert code == 0, err
    assert db_rows(tmp_path, "select distinct location from probe_results") == [("waw-1",)]

    code, _, err = await run_cli("run", "--config", str(config), "--location", "Warsaw 1")
    assert (code, err) == (
        2,
        "channel-monitor: error: --location 'Warsaw 1': use 1 to 64 lower-case letters, digits, '-' or '_', e.g. waw-1\n",
    )


async def test_sigkill_restart_keeps_history_and_state_without_duplicate_incident(tmp_path, fake_channel):
    fake_channel.mode = "error"
    config = str(write_allegro_config(tmp_path, fake_channel.url))
    async with Service("--config", config, "--listen", f"127.0.0.1:{free_port()}") as svc:
        for _ in range(200):
            if (tmp_path / "data" / "channel-monitor.db").exists() and db_rows(tmp_path, "select count(*) from incidents")[0][0]:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        await svc.stop(signal.SIGKILL)
    [(kept,)] = db_rows(tmp_path, "select count(*) from probe_results")
    assert kept >= 2
    async with Service("--config", config, "--listen", f"127.0.0.1:{free_port()}", "--log-format", "json") as svc:
        hits = fake_channel.hits
        while fake_channel.hits < hits + 5:
            await asyncio.sleep(0.05)
        code, err = await svc.stop()
    assert code == 0
    assert db_rows(tmp_path, "select count(*) from incidents") == [(1,)]
    assert db_rows(tmp_path, "select state from channel_states") == [("down",)]
    assert db_rows(tmp_path, "select count(*) from probe_results")[0][0] >= kept + 5
    assert all(json.loads(line)["level"] for line in err.splitlines())  # --log-format json: JSON lines only


async def test_port_in_use_is_one_clear_error(tmp_path, fake_channel):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await run_cli(
            "run", "--config", str(write_allegro_config(tmp_path, fake_channel.url)), "--listen", f"127.0.0.1:{port}"
        )
    assert code == 2
    assert err == (
        f"channel-monitor: error: cannot listen on 127.0.0.1:{port}: Address already in use; stop the other "
        "process or choose another address with --listen (or the listen key)\n"
    )


async def test_unusable_data_dir_is_one_clear_error(tmp_path, fake_channel):
    (tmp_path / "file").write_text("x")
    code, _, err = await run_cli(
        "run",
        "--config",
        str(write_allegro_config(tmp_path, fake_channel.url)),
        "--data-dir",
        str(tmp_path / "file" / "data"),
        "--listen",
        f"127.0.0.1:{free_port()}",
    )
    assert code == 2
    assert err.endswith(
        f"channel-monitor: error: cannot create data directory '{tmp_path}/file/data': Not a directory; "
        "choose another with --data-dir or the data_dir key\n"
    )


async def test_corrupt_config_exits_2_before_starting(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("channels: [\n")
    code, out, err = await run_cli("run", "--config", str(bad))
    assert code == 2 and out == ""
    assert err.startswith(f"{bad}: line 2: not valid YAML")


async def test_demo_runs_with_no_config_and_is_controlled_from_the_cli(tmp_path):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *EXE,
        "--listen",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(tmp_path / "data"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line == f"Status page: http://127.0.0.1:{port}/  (demo: simulated channels)\n"
        token_line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert token_line.startswith("Admin commands of this demo: export CM_ADMIN_TOKEN=")
        token = token_line.strip().rsplit("=", 1)[1]
        url = f"http://127.0.0.1:{port}"
        freeze = ("failover", "freeze", "promotion", "christmas-ads", "--by", "ola", "--reason", "review", "--url", url)
        code, _, err = await run_cli(*freeze, env={"CM_ADMIN_TOKEN": "wrong-token-0123456789"})
        assert code == 2, err
        code, out, err = await run_cli(*freeze, env={"CM_ADMIN_TOKEN": token})  # the README's example, in the demo
        assert code == 0, err
        code, out, _ = await run_cli("demo", "break", "amazon", "--mode", "error", "--url", url)
        assert code == 0 and out.startswith("amazon: error.")
        code, out, _ = await run_cli("demo", "status", "--url", url)
        assert code == 0 and any(row.split() == ["amazon", "Amazon", "error"] for row in out.splitlines())
        code, out, _ = await run_cli("demo", "replay-2021", "--minutes", "1", "--url", url)
        assert code == 0 and "Replaying 4 October 2021" in out
        code, out, _ = await run_cli("demo", "heal", "--all", "--url", url)
        assert code == 0
        code, out, _ = await run_cli("demo", "status", "--url", url)
        assert all(row.split()[-1] == "ok" for row in out.splitlines()[1:])
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0


async def test_demo_control_without_a_running_demo_says_how_to_start_it():
    code, _, err = await run_cli("demo", "status", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 2 and "start it with `channel-monitor demo` or pass --url" in err


async def test_probe_once_wraps_a_long_reason_instead_of_cutting_it(tmp_path, fake_channel):
    wanted = "Add to basket before the Christmas sale ends tomorrow at midnight"
    path = write_allegro_config(tmp_path, fake_channel.url)
    path.write_text(path.read_text().replace("body_contains: ['Add to cart']", f"body_contains: ['{wanted}']"))
    code, out, _ = await run_cli("probe-once", "--config", str(path))
    assert code == 1
    lines = out.splitlines()
    why = lines[0].index("WHY")
    assert [line[why:] for line in lines[1:3]] == [
        "content_mismatch: body lacks 'Add to basket before the",
        "Christmas sale ends tomorrow at midnight'",
    ]
    assert "Every check failed" not in out  # it reached the channel: not a network problem here
    code, out, _ = await run_cli("probe-once", "--config", str(path), "--json")
    assert json.loads(out)["error"] == f"body lacks '{wanted}'"


async def test_probe_once_says_when_every_check_fails_at_dns_or_connect(tmp_path):
    path = write_allegro_config(tmp_path, f"http://127.0.0.1:{free_port()}/")  # nothing listens there
    path.write_text(
        path.read_text()
        + f"""  - id: amazon
    name: Amazon
    checks:
      - {{kind: tcp, target: '127.0.0.1:{free_port()}'}}
"""
    )
    code, out, _ = await run_cli("probe-once", "--config", str(path))
    assert code == 1
    assert out.splitlines()[-2:] == [
        "0 of 2 checks passed",
        "Every check failed at DNS or connect: is this machine offline, or is its DNS resolver down?",
    ]
    code, out, _ = await run_cli("probe-once", "--json", "--config", str(path))
    assert [json.loads(line)["error_class"] for line in out.splitlines()] == ["connect_refused", "connect_refused"]


async def test_options_come_before_or_after_the_command(tmp_path, fake_channel):
    path = str(write_allegro_config(tmp_path, fake_channel.url))
    for args in (("check-config", path), ("check-config", "--config", path), ("--config", path, "check-config")):
        code, out, err = await run_cli(*args)
        assert (code, out.splitlines()[0]) == (0, f"{path}: OK, 1 channels, 1 checks"), (args, err)
    for args in (("--data-dir", str(tmp_path / "d1"), "db", "upgrade"), ("db", "upgrade", "--data-dir", str(tmp_path / "d2"))):
        code, out, err = await run_cli(*args)
        assert code == 0 and out.startswith(f"sqlite:///{args[1] if args[0] == '--data-dir' else args[3]}/channel-monitor.db: "), err
    code, out, _ = await run_cli("--json", "--config", path, "probe-once")
    assert code == 0 and json.loads(out)["ok"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--data-dir", "elsewhere", "check-config", "examples/channels.yaml"),
            "--data-dir does not apply to `channel-monitor check-config`",
        ),
        (
            ("--data-dir", "elsewhere", "probe-once", "--config", "examples/channels.yaml"),
            "--data-dir does not apply to `channel-monitor probe-once`",
        ),
        (("--json", "demo", "status"), "--json does not apply to `channel-monitor demo status`"),
        (
            ("--data-dir", "elsewhere", "override", "allegro", "--lift", "--by", "ola"),
            "--data-dir does not apply to `channel-monitor override`",
        ),
        (("probe-once",), "probe-once needs --config FILE"),
    ],
    ids=["check-config", "probe-once", "demo-control", "admin-command", "probe-once-without-config"],
)
async def test_an_option_a_command_would_ignore_is_refused(args, message):
    code, out, err = await run_cli(*args)
    assert (code, out, err.splitlines()[-1]) == (2, "", f"channel-monitor: error: {message}")


async def test_data_dir_with_a_postgresql_config_is_refused_not_ignored(tmp_path, fake_channel):
    path = write_allegro_config(tmp_path, fake_channel.url)
    path.write_text(path.read_text() + "database_url: postgresql://cm:secret@127.0.0.1:1/cm\n")
    for command in (("db", "upgrade"), ("failover", "status"), ("plan",), ("run", "--listen", f"127.0.0.1:{free_port()}")):
        code, _, err = await run_cli(*command, "--config", str(path), "--data-dir", str(tmp_path / "d"))
        assert (code, err) == (
            2,
            f"channel-monitor: error: --data-dir {tmp_path / 'd'} names a SQLite directory, but the "
            "config uses database_url postgresql://cm:***@127.0.0.1:1/cm; leave out --data-dir\n",
        ), command


async def run_into_closed_pipe(*args: str) -> tuple[int, str]:
    """Run the CLI with its stdout a pipe whose reader has gone (`channel-monitor ... | head` after head exits)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = await asyncio.create_subprocess_exec(*EXE, *args, cwd=ROOT, stdout=write, stderr=asyncio.subprocess.PIPE)
    finally:
        os.close(write)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, err.decode()


@pytest.mark.parametrize(
    "args",
    [
        ("failover", "status", "--data-dir", "{db}"),
        ("plan", "--fail", "allegro", "--data-dir", "{db}"),
        ("check-config", "examples/channels.yaml"),
        ("probe-once", "--config", "{config}"),
    ],
    ids=["failover-status", "plan", "check-config", "probe-once"],
)
async def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path, fake_channel, args):
    assert (await run_cli("db", "upgrade", "--data-dir", str(tmp_path / "db")))[0] == 0
    values = {"db": str(tmp_path / "db"), "config": str(write_allegro_config(tmp_path, fake_channel.url))}
    code, err = await run_into_closed_pipe(*(a.format(**values) for a in args))
    assert (code, err) == (141, "")  # as `git log | head`: no traceback, the shell's SIGPIPE status
