"""Three locations, two probers in one of them, two deciders, on a real PostgreSQL: the commands of
deploy/compose.yaml. What one location alone sees takes nothing down; what two of three see does, once. The
leading decider SIGKILLed: the standby takes over within 10 s and goes on deciding. A prober SIGKILLed: its
checks resume in its location within two heartbeat timeouts."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from monitor.membership import owner
from tests.distributed.cluster import Database, Process, Shop, logs, pid_of, write_config
from tests.fakes import eventually
from tests.support.cli import free_port

LOCATIONS = ["waw", "fra", "ams"]


@pytest.fixture
async def cluster(tmp_path, postgres_url):
    shop = Shop(LOCATIONS)
    await shop.start()
    db = Database(postgres_url)
    configs = {loc: write_config(tmp_path / f"{loc}.yaml", postgres_url, shop.ports[loc]) for loc in LOCATIONS}
    procs: list[Process] = []

    def process(name: str, *args: str) -> Process:
        p = Process(name, tmp_path, *args, "--listen", f"127.0.0.1:{free_port()}")
        procs.append(p)
        return p

    # The first decider migrates the empty database; the rest start once it has.
    first = await process("decide-1", "--config", str(configs["waw"]), "--role", "decide").start()
    await eventually(lambda: db.scalar("SELECT count(*) FROM leadership") == 1, timeout=30, what=lambda: logs(procs))
    await process("decide-2", "--config", str(configs["waw"]), "--role", "decide").start()
    for loc in LOCATIONS:
        await process(f"probe-{loc}-1", "--config", str(configs[loc]), "--role", "probe", "--location", loc).start()
    await process("probe-waw-2", "--config", str(configs["waw"]), "--role", "probe", "--location", "waw").start()
    yield shop, db, procs, process, first
    for p in procs:
        if p.proc is not None and p.proc.returncode is None:
            p.proc.kill()
            await p.proc.wait()
    await shop.stop()
    db.engine.dispose()


async def channel_api(procs: list[Process], db: Database) -> dict:
    """The shop as the leading decider's /api/channels shows it."""
    holder = db.scalar("SELECT holder FROM leadership WHERE name = 'decide'")
    leader = next(p for p in procs if p.proc is not None and p.pid == pid_of(holder))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{leader.port}/api/channels") as resp:
            return (await resp.json())["channels"][0]


def state(db: Database) -> str | None:
    return db.scalar("SELECT state FROM channel_states WHERE channel = 'shop'")


def went_down(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM transitions WHERE channel = 'shop' AND new_state = 'down'") or 0


def failures(db: Database, loc: str) -> int:
    return db.scalar("SELECT count(*) FROM probe_results WHERE location = :loc AND NOT ok", loc=loc) or 0


async def test_quorum_decider_takeover_and_prober_takeover(cluster):
    shop, db, procs, process, _first = cluster
    what = lambda: logs(procs)  # noqa: E731
    await eventually(lambda: state(db) == "up", timeout=40, what=what)
    # Every location reports, and waw's two probers share its one check: one runs it, once per interval.
    await eventually(lambda: {r[0] for r in db.rows("SELECT DISTINCT location FROM probe_results")} == set(LOCATIONS), timeout=20)
    since = time.time()
    await asyncio.sleep(3.0)
    runs = db.scalar("SELECT count(*) FROM probe_results WHERE location = 'waw' AND at > :t AND at <= :t + 3", t=since)
    assert 8 <= runs <= 11, f"waw ran its check {runs} times in 3 s at a 300 ms interval"

    # One location of three sees the shop fail: it is recorded, shown, and nothing goes down.
    shop.failing = {"waw"}
    before = failures(db, "waw")
    await eventually(lambda: failures(db, "waw") >= before + 6, timeout=20, what=what)  # 3 thresholds' worth
    assert state(db) == "up" and went_down(db) == 0
    shown = await channel_api(procs, db)
    assert shown["state"] == "up" and shown["failing_locations"] == ["waw"], shown
    assert shown["checks"][0]["locations"]["text"].startswith("failing from waw (1 of 3 voting locations; 2 needed for down)")

    # A prober's metrics say where they were taken; its /readyz is its health.
    fra = next(p for p in procs if p.name == "probe-fra-1")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{fra.port}/metrics") as resp:
            assert 'probe_success{channel="shop",check="home",kind="http",location="fra"} 1' in await resp.text()
        async with session.get(f"http://127.0.0.1:{fra.port}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["role"] == "probe"

    # Two of three: down, once.
    shop.failing = {"waw", "fra"}
    await eventually(lambda: state(db) == "down", timeout=20, what=what)
    seen = db.scalar("SELECT cause FROM channel_states WHERE channel = 'shop'")
    assert "seen from 2 of 3 locations" in seen, seen
    shown = await channel_api(procs, db)
    assert shown["state"] == "down" and shown["failing_locations"] == ["fra", "waw"], shown
    await asyncio.sleep(2)  # more failing rounds: still one transition
    assert went_down(db) == 1
    shop.failing = set()
    await eventually(lambda: state(db) == "up", timeout=20, what=what)

    # SIGKILL the leading decider: the standby leads within 10 s, and decides the next outage.
    holder, epoch = db.rows("SELECT holder, epoch FROM leadership WHERE name = 'decide'")[0]
    leader = next(p for p in procs if p.proc is not None and p.pid == pid_of(holder))
    killed_at = time.monotonic()
    await leader.stop(signal.SIGKILL)
    await eventually(lambda: (db.scalar("SELECT epoch FROM leadership WHERE name = 'decide'") or 0) > epoch, timeout=10, what=what)
    took_over = time.monotonic() - killed_at
    assert took_over < 10, took_over
    print(f"standby decider took over {took_over:.2f}s after the leader's SIGKILL")
    shop.failing = {"fra", "ams"}
    await eventually(lambda: went_down(db) == 2, timeout=20, what=what)
    shop.failing = set()
    await eventually(lambda: state(db) == "up", timeout=20, what=what)

    # SIGKILL the waw prober that runs the check: the other one takes it over within two heartbeat timeouts.
    live = sorted(r[0] for r in db.rows("SELECT id FROM probers WHERE location = 'waw'"))
    assert len(live) == 2, live
    running = owner("shop/home", live)
    victim = next(p for p in procs if p.proc is not None and p.pid == pid_of(running))
    last = db.scalar("SELECT max(at) FROM probe_results WHERE location = 'waw'")
    await victim.stop(signal.SIGKILL)
    killed = time.time()
    await eventually(lambda: (db.scalar("SELECT max(at) FROM probe_results WHERE location = 'waw'") or 0) > killed + 0.3, timeout=10)
    resumed = db.scalar("SELECT min(at) FROM probe_results WHERE location = 'waw' AND at > :t", t=killed)
    gap = resumed - last
    assert gap <= 2 * 1.0 + 0.3 + 0.5, f"waw's check resumed {gap:.2f}s after its last result"
    print(f"waw's check resumed {gap:.2f}s after the last result of its killed prober")

    # SIGTERM the leader with a standby waiting: it hands over at once (after its last write), and exits 0.
    standby = await process("decide-3", "--config", procs[0].args[1], "--role", "decide").start()
    await eventually(lambda: "standing by" in standby.log.read_text(), timeout=30, what=what)
    holder, epoch = db.rows("SELECT holder, epoch FROM leadership WHERE name = 'decide'")[0]
    leader = next(p for p in procs if p.proc is not None and p.pid == pid_of(holder))
    asked = time.monotonic()
    assert await leader.stop(signal.SIGTERM) == 0
    await eventually(lambda: (db.scalar("SELECT epoch FROM leadership WHERE name = 'decide'") or 0) > epoch, timeout=5, what=what)
    handed = time.monotonic() - asked
    assert handed < 5, handed
    print(f"SIGTERM: the standby led {handed:.2f}s after the leader was asked to stop (its clean stop included)")
