"""Crash safety of failover: SIGKILL the service at every point of an outage's actions, restart it.

The service runs as users run it (`channel-monitor run` in a subprocess) against loopback fakes: three
sales channels and a signed-webhook receiver that dedupes by Idempotency-Key. One outage (facebook
down) gives n = 3 actions. For k = 0..n the receiver acknowledges exactly k of them and holds every
later request open; then the service is killed. A held request never gets an answer the service can
record; held requests alternate between two kinds, starting with the case's `first`: "unanswered"
(the receiver had not applied it yet) and "lost" (it had applied it, only the response is lost).
After a restart on the same data dir every action must be applied exactly once, repeats must carry
the key of an earlier delivery, and the database must show every action applied; then failback must
run once.

Each case starts the service twice (about 2 s of imports each on a loaded machine), so not every
(k, first) pair runs: k = 0 and k = 1 hold several requests, so both kinds occur anyway; k = 2 holds
one, so it runs once per kind; k = n holds none (the acks may or may not have been recorded).

The last test kills the service with the outage's actions in flight and lets the outage end before
the restart: the failback must not expect the amounts that never arrived (no false conflict, no freeze).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import create_engine, select
from sqlalchemy.exc import OperationalError

from monitor.core.signing import HEADER, SignatureError, verify
from monitor.store.models import FailoverActionRow, FailoverPlanRow, FailoverTargetRow
from tests.fakes import FakeChannel, eventually
from tests.support import ROOT
from tests.support.cli import EXE
from tests.support.receiver import SECRET, Receiver

NORMAL = {"shop": 50000, "allegro": 30000, "facebook": 20000}
FAILED_OVER = {"shop": 62500, "allegro": 37500, "facebook": 0}
OUTAGE_ACTIONS = {("set_amount", "shop"), ("set_amount", "allegro"), ("pause", "facebook")}
N = len(OUTAGE_ACTIONS)
WAIT = 15.0  # every wait in this file is bounded by this (or less)

# (k, kind of the first held request); at k == n nothing is held.
CASES = [(0, "lost"), (1, "unanswered"), (2, "lost"), (2, "unanswered"), (N, "none")]
KINDS = ("unanswered", "lost")


class HoldingReceiver(Receiver):
    """A Receiver that acknowledges the first `acks` actions, then holds every request until released.

    Held requests alternate, starting with `first`: "unanswered" is verified and recorded as a
    delivery but not applied; "lost" is applied as usual, only its response never gets out.
    """

    def __init__(self, acks: int, first: str, **kw) -> None:
        super().__init__(**kw)
        self.acks_left = acks
        self.kinds = KINDS if first == KINDS[0] else KINDS[::-1]
        self.holding = True
        self.release = asyncio.Event()
        self.acked: list[str] = []  # keys whose 200 answer was handed to the server
        self.held: list[tuple[str, str]] = []  # (key, kind) of requests held open

    async def handle(self, request: web.Request) -> web.Response:
        if not self.holding:
            return await super().handle(request)
        body = await request.read()  # cached: super().handle reads the same bytes again
        key = json.loads(body)["id"]
        if self.acks_left > 0:  # no await between the check and the decrement
            self.acks_left -= 1
            response = await super().handle(request)
            if response.status == 200:
                self.acked.append(key)
            return response
        kind = self.kinds[len(self.held) % 2]
        self.held.append((key, kind))
        if kind == "lost":
            response = await super().handle(request)  # applied; the answer is held below
        else:
            try:
                verify(self.secret, body, request.headers.get(HEADER, ""), time.time())
            except SignatureError as exc:
                self.rejected.append(str(exc))
                return web.json_response({"error": str(exc)}, status=401)
            self.deliveries.append(json.loads(body))
            response = web.json_response({"error": "held, never answered"}, status=503)
        await self.release.wait()  # set only after the service was killed
        return response

    def release_all(self) -> None:
        self.holding = False
        self.release.set()


def write_config(tmp_path: Path, urls: dict[str, str], hook: str) -> Path:
    lines = [
        f"data_dir: {tmp_path / 'data'}",
        "allow_networks: [127.0.0.0/8]",
        "defaults: {interval: 200ms, timeout: 150ms, fail_threshold: 2, recover_threshold: 2}",
        "channels:",
    ]
    for cid, url in urls.items():
        lines += [f"  - id: {cid}", f"    name: {cid.title()}", "    checks:", f"      - {{kind: http, id: home, target: '{url}'}}"]
        if cid != "facebook":  # never broken here: a 150 ms timeout on a loaded machine must not fail them over
            lines += ["    fail_threshold: 5"]
    lines += [
        "failover:",
        "  timing: {hold_down: 0s, failback_after: 0s, settle: 0s}",
        "  actuators:",
        f"    - {{id: hook, kind: webhook, url: '{hook}', secret: {SECRET}}}",
        "  promotions:",
        "    - id: ads",
        "      name: Black Friday ads",
        "      total: 100000",
        "      unit: PLN",
        "      mode: auto",
        "      channels:",
    ]
    lines += [f"        {c}: {{share: {v // 1000}, actuator: hook, target: 'obj-{c}'}}" for c, v in NORMAL.items()]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Service:
    """`channel-monitor run --config FILE --listen 127.0.0.1:0`; stderr goes to a file for diagnosis."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        with open(self.log, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *EXE, "run", "--config", str(self.config), "--listen", "127.0.0.1:0", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=err
            )
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 20)).decode()
        assert line.startswith("Status page: http://"), f"no status line: {line!r}; log:\n{self.log.read_text()}"
        self.url = line.split()[2].rstrip("/")

    async def channels(self) -> dict[str, str]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.get(f"{self.url}/api/channels") as resp:
                return {c["id"]: c["state"] for c in (await resp.json())["channels"]}

    async def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)
        assert self.proc.returncode == -signal.SIGKILL

    async def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), 20)
        return self.proc.returncode

    async def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)


async def wait_all_up(service: Service) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            if set((await service.channels()).values()) == {"up"}:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"channels not all up within {WAIT}s")


def stored(db: Path) -> tuple[list[FailoverPlanRow], list[FailoverActionRow], list[FailoverTargetRow]]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return tuple(
                [m.model_validate(r._mapping) for r in conn.execute(select(m).order_by(*m.__table__.primary_key))]
                for m in (FailoverPlanRow, FailoverActionRow, FailoverTargetRow)
            )
    finally:
        engine.dispose()


def settled(db: Path, plans: int, actions: int) -> bool:
    """The running service has stored `plans` plans, `actions` actions and an outcome for every action.

    Read-only, while the service runs (WAL: readers never block it).
    """
    try:
        stored_plans, stored_actions, _ = stored(db)
    except OperationalError:
        return False
    return (len(stored_plans), len(stored_actions)) == (plans, actions) and all(
        a.status not in ("pending", "sending") for a in stored_actions
    )


def deliveries_by_key(receiver: Receiver) -> dict[str, list[dict]]:
    by_key: dict[str, list[dict]] = defaultdict(list)
    for d in receiver.deliveries:
        by_key[d["id"]].append(d)
    return by_key


def diagnosis(receiver: HoldingReceiver, db: Path, log: Path) -> str:
    lines = [f"acked={receiver.acked} held={receiver.held}", "deliveries (key, op, channel, attempt):"]
    lines += [f"  {d['id']} {d['op']} {d['channel']} {d['attempt']}" for d in receiver.deliveries]
    if db.exists():
        _, actions, _ = stored(db)
        lines += ["actions (id, plan, key, op, channel, status, attempts, last_error):"]
        lines += [f"  {a.id} {a.plan_id} {a.key} {a.op} {a.channel} {a.status} {a.attempts} {a.last_error}" for a in actions]
    lines += ["service log (tail):", *log.read_text(errors="replace").splitlines()[-40:]]
    return "\n".join(lines)


@pytest.mark.parametrize(("k", "first"), CASES, ids=[f"k={k}-{h}" for k, h in CASES])
async def test_sigkill_during_an_outage_applies_every_action_exactly_once(tmp_path, aiohttp_server, k, first):
    fakes = {c: FakeChannel() for c in NORMAL}
    urls = {c: str((await aiohttp_server(f.app)).make_url("/")) for c, f in fakes.items()}
    receiver = HoldingReceiver(k, first, amounts={("ads", c): v for c, v in NORMAL.items()})
    hook = str((await aiohttp_server(receiver.app)).make_url("/failover"))
    config = write_config(tmp_path, urls, hook)
    db = tmp_path / "data" / "channel-monitor.db"
    log = tmp_path / "service.log"
    service = Service(config, log)
    try:
        # 1. Run, let every channel come up, break facebook, kill after k acknowledgements.
        await service.start()
        await wait_all_up(service)
        fakes["facebook"].mode = "error"
        if k < N:
            await eventually(lambda: len(receiver.acked) == k and receiver.held, timeout=WAIT)
        else:
            await eventually(lambda: len(receiver.acked) == N, timeout=WAIT)
        await service.kill()
        acked, held_keys = list(receiver.acked), [key for key, _ in receiver.held]
        assert len(acked) == k and (k == N or held_keys)
        receiver.release_all()  # the held requests' connections are gone: their answers are lost

        # 2. Restart on the same data dir: the outage goes on, the rest of the actions go out.
        await service.start()
        try:
            await eventually(lambda: receiver.spending("ads") == FAILED_OVER, timeout=WAIT)
        except AssertionError:
            raise AssertionError(f"k={k} {first}: not failed over after restart\n" + diagnosis(receiver, db, log)) from None
        # The receiver may hold the allocation already (k == n, or "lost"): wait for the service to
        # record every outage action too; healing now would race the re-sends (the failback plan
        # supersedes re-released rows that have not gone out again).
        try:
            await eventually(lambda: settled(db, 1, N), timeout=WAIT, interval=0.1)
        except AssertionError:
            raise AssertionError(f"k={k} {first}: outage actions not settled after restart\n" + diagnosis(receiver, db, log)) from None
        assert {a.status for a in stored(db)[1]} == {"applied"}, diagnosis(receiver, db, log)
        applied = list(receiver.applied.values())
        assert sorted((a["op"], a["channel"]) for a in applied) == sorted(OUTAGE_ACTIONS), diagnosis(receiver, db, log)
        assert len(receiver.applied) == N
        by_key = deliveries_by_key(receiver)
        keys_of_action: dict[tuple[str, str], set[str]] = defaultdict(set)
        for d in receiver.deliveries:
            keys_of_action[(d["op"], d["channel"])].add(d["id"])
        assert all(len(keys) == 1 for keys in keys_of_action.values()), diagnosis(receiver, db, log)
        repeated = {key for key, ds in by_key.items() if len(ds) > 1}
        assert repeated <= set(acked) | set(held_keys), diagnosis(receiver, db, log)
        assert all(len(by_key[key]) >= 2 for key in held_keys), diagnosis(receiver, db, log)  # no answer: sent again
        assert receiver.duplicates() <= len(acked) + len(held_keys)
        assert sum(receiver.spending("ads").values()) == 100000
        assert receiver.amounts[("ads", "facebook")] == 20000  # paused, its budget left as it was
        assert receiver.rejected == []

        # 3. Facebook comes back: failback runs once.
        fakes["facebook"].mode = "ok"
        try:
            await eventually(lambda: receiver.spending("ads") == NORMAL, timeout=WAIT)
        except AssertionError:
            raise AssertionError(f"k={k} {first}: no failback\n" + diagnosis(receiver, db, log)) from None
        # A clean stop cancels actions in flight and leaves them "sending" (re-sent at the next start):
        # let the service record the last outcomes first.
        try:
            await eventually(lambda: settled(db, 2, N + 4), timeout=WAIT, interval=0.1)
        except AssertionError:
            raise AssertionError(f"k={k} {first}: failback actions not settled\n" + diagnosis(receiver, db, log)) from None
        assert len(receiver.applied) == N + 4  # set_amount x3 + resume facebook
        assert receiver.rejected == []
        code = await service.terminate()
        assert code == 0, log.read_text()
    finally:
        await service.ensure_dead()
        receiver.release_all()

    plans, actions, targets = stored(db)
    assert [(p.owner, p.status) for p in plans] == [("ads", "applied"), ("ads", "applied")]
    assert [(a.status, a.key in receiver.applied) for a in actions] == [("applied", True)] * len(actions), diagnosis(receiver, db, log)
    outage = [a for a in actions if a.plan_id == plans[0].id]
    assert {(a.op, a.channel) for a in outage} == OUTAGE_ACTIONS and len(outage) == N
    assert len(actions) == N + 4
    assert {t.channel: (t.planned, t.applied) for t in targets} == {c: (v, v) for c, v in NORMAL.items()}
    assert len(receiver.deliveries) == len(receiver.applied) + receiver.duplicates()


class ExpectCheckingReceiver(HoldingReceiver):
    """Also answers 409 when a set_amount's `expect` differs from the current amount, as the README allows."""

    async def handle(self, request: web.Request) -> web.Response:
        if not self.holding:
            action = json.loads(await request.read())
            current = self.amounts.get((action["promotion"], action["channel"]))
            if (
                action["op"] == "set_amount"
                and action["expect"] is not None
                and action["id"] not in self.applied
                and current != action["expect"]
            ):
                self.deliveries.append(action)
                return web.json_response({"error": f"is {current}, expected {action['expect']}"}, status=409)
        return await super().handle(request)


async def test_an_outage_that_ends_while_the_service_is_down_does_not_freeze_the_promotion(tmp_path, aiohttp_server):
    """Killed with every outage action in flight (none applied); facebook recovers before the restart."""
    fakes = {c: FakeChannel() for c in NORMAL}
    urls = {c: str((await aiohttp_server(f.app)).make_url("/")) for c, f in fakes.items()}
    receiver = ExpectCheckingReceiver(0, "unanswered", amounts={("ads", c): v for c, v in NORMAL.items()})
    receiver.kinds = ("unanswered", "unanswered")
    hook = str((await aiohttp_server(receiver.app)).make_url("/failover"))
    db, log = tmp_path / "data" / "channel-monitor.db", tmp_path / "service.log"
    service = Service(write_config(tmp_path, urls, hook), log)
    try:
        await service.start()
        await wait_all_up(service)
        fakes["facebook"].mode = "error"
        await eventually(lambda: len(receiver.held) == N, timeout=WAIT)
        await service.kill()
        receiver.release_all()
        fakes["facebook"].mode = "ok"
        await service.start()
        await eventually(lambda: settled(db, 2, N + 4), timeout=WAIT, interval=0.1)
        assert await service.terminate() == 0
    finally:
        await service.ensure_dead()
        receiver.release_all()
    _, actions, _ = stored(db)
    assert receiver.spending("ads") == NORMAL
    assert [a.status for a in actions if a.status not in ("applied", "superseded")] == [], diagnosis(receiver, db, log)
