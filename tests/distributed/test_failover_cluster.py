"""SIGKILL the leading decider in the middle of a failover, on a real PostgreSQL, with the commands of
deploy/compose.yaml: the standby takes over, finishes the failover (each idempotency key applied once, the actions
the old leader was sending sent again with their keys), and the failback is exact."""

from __future__ import annotations

import signal
from collections import defaultdict

from tests.distributed.cluster import Database, Processes, pid_of
from tests.e2e.test_crash_safety import FAILED_OVER, NORMAL, OUTAGE_ACTIONS, HoldingReceiver, write_config
from tests.fakes import FakeChannel, eventually

WAIT = 30.0


async def test_the_standby_finishes_a_failover_the_killed_leader_started(tmp_path, aiohttp_server, postgres_url):
    fakes = {c: FakeChannel() for c in NORMAL}
    urls = {c: str((await aiohttp_server(f.app)).make_url("/")) for c, f in fakes.items()}
    receiver = HoldingReceiver(1, "lost", amounts={("ads", c): v for c, v in NORMAL.items()})
    hook = str((await aiohttp_server(receiver.app)).make_url("/failover"))
    config = write_config(tmp_path, urls, hook)
    config.write_text(f"database_url: {postgres_url}\nprobing: {{heartbeat: 200ms, heartbeat_timeout: 1s}}\n" + config.read_text())
    db = Database(postgres_url)
    cluster = Processes(tmp_path, config)
    start, procs = cluster.start, cluster.all
    what = lambda: cluster.logs() + f"\nreceiver: acked={receiver.acked} held={receiver.held}"  # noqa: E731
    try:
        await start("decide-1", "--role", "decide")
        await eventually(lambda: db.scalar("SELECT count(*) FROM leadership") == 1, timeout=WAIT, what=what)
        await start("decide-2", "--role", "decide")
        await start("probe-waw-1", "--role", "probe", "--location", "waw")
        await eventually(lambda: db.scalar("SELECT count(*) FROM channel_states WHERE state = 'up'") == 3, timeout=WAIT, what=what)

        # Facebook fails: the leader plans the failover; the receiver applies one action, then holds the rest.
        fakes["facebook"].mode = "error"
        await eventually(lambda: len(receiver.acked) == 1 and receiver.held, timeout=WAIT, what=what)
        holder, epoch = db.rows("SELECT holder, epoch FROM leadership WHERE name = 'decide'")[0]
        leader = cluster.by_pid(pid_of(holder))
        await leader.stop(signal.SIGKILL)
        receiver.release_all()  # the held requests' connections are gone with the leader: their answers are lost

        # The standby leads, takes over the actions in flight and finishes the failover.
        await eventually(lambda: (db.scalar("SELECT epoch FROM leadership WHERE name = 'decide'") or 0) > epoch, timeout=10, what=what)
        await eventually(lambda: receiver.spending("ads") == FAILED_OVER, timeout=WAIT, what=what)
        standby = next(p for p in procs if p.name == "decide-2")
        taken = f"decider: took over {len(receiver.held)} failover actions in flight"
        assert taken in standby.log.read_text(), what()
        await eventually(lambda: db.scalar("SELECT count(*) FROM failover_actions WHERE status <> 'applied'") == 0, timeout=WAIT, what=what)
        keys: dict[tuple[str, str], set[str]] = defaultdict(set)
        for d in receiver.deliveries:
            keys[(d["op"], d["channel"])].add(d["id"])
        assert set(keys) == OUTAGE_ACTIONS and all(len(k) == 1 for k in keys.values()), keys  # one key per action
        assert len(receiver.applied) == len(OUTAGE_ACTIONS)  # each applied once, whatever was sent twice

        # Facebook is back: the failback is exact, once.
        fakes["facebook"].mode = "ok"
        await eventually(lambda: receiver.spending("ads") == NORMAL, timeout=WAIT, what=what)
        await eventually(lambda: db.scalar("SELECT count(*) FROM failover_actions WHERE status <> 'applied'") == 0, timeout=WAIT, what=what)
        assert len(receiver.applied) == len(OUTAGE_ACTIONS) + 4  # set_amount x3 + resume facebook
        assert receiver.rejected == []
        targets = {r[0]: (r[1], r[2]) for r in db.rows("SELECT channel, planned, applied FROM failover_targets")}
        assert targets == {c: (v, v) for c, v in NORMAL.items()}
        assert [r[0] for r in db.rows("SELECT status FROM failover_plans ORDER BY id")] == ["applied", "applied"]
    finally:
        await cluster.close()
        receiver.release_all()
        db.engine.dispose()
