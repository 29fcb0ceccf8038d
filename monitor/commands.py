"""Admin commands through the decider: a web instance (--role web) forwards them, the leading decider carries
them out (monitor/store/commands.py holds them in between).

Only the decider changes channel states and failover, so an override, a maintenance window, a plan's approval or
a freeze sent to a web instance is stored as a command; the decider's CommandRunner carries out the pending ones
through its own admin actions (the same code as its own admin API: stored, applied, alerted, fenced) and stores
each outcome, which the web instance's RemoteAdmin waits for and answers with. A command the decider did not take
within WAIT seconds is withdrawn (it will not be carried out later) and answered 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.engine import Engine

from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.store import commands as store
from monitor.store.db import begin_write
from monitor.store.models import AdminCommandRow
from monitor.web.read_model import AdminUnavailable, Approved, UnknownPlan

log = logging.getLogger("monitor.commands")
WAIT = 15.0  # seconds a web instance waits for the decider to carry a command out
POLL = 0.1  # seconds between a web instance's looks at its command's outcome
RUN_EVERY = 0.25  # seconds between the decider's looks for new commands


class Admin(Protocol):
    """What the decider's read model does for its own admin API."""

    async def set_override(self, channel: str, override: Override | None) -> None: ...
    async def add_window(self, channel: str, window: Window) -> int: ...
    async def remove_window(self, channel: str, window_id: int) -> bool: ...
    async def approve_plan(self, plan_id: int, by: str) -> Approved: ...
    async def reject_plan(self, plan_id: int, by: str) -> tuple[str, str]: ...
    async def set_frozen(self, owner: tuple[str, str], frozen: bool, by: str, reason: str) -> None: ...


class RemoteAdmin:
    """A web instance's admin actions: each one a command for the leading decider, answered with its outcome."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time, wait: float = WAIT) -> None:
        self.engine, self.clock, self.wait = engine, clock, wait

    async def set_override(self, channel: str, override: Override | None) -> None:
        await self._ask("set_override", {"channel": channel, "override": None if override is None else _override_args(override)})

    async def add_window(self, channel: str, window: Window) -> int:
        return int((await self._ask("add_window", {"channel": channel, "window": asdict(window)}))["id"])

    async def remove_window(self, channel: str, window_id: int) -> bool:
        return bool((await self._ask("remove_window", {"channel": channel, "id": window_id}))["removed"])

    async def approve_plan(self, plan_id: int, by: str) -> Approved:
        result = await self._ask("approve_plan", {"plan": plan_id, "by": by})
        return Approved((result["owner"][0], result["owner"][1]), result["after"])

    async def reject_plan(self, plan_id: int, by: str) -> tuple[str, str]:
        owner = (await self._ask("reject_plan", {"plan": plan_id, "by": by}))["owner"]
        return (owner[0], owner[1])

    async def set_frozen(self, owner: tuple[str, str], frozen: bool, by: str, reason: str) -> None:
        await self._ask("set_frozen", {"owner": list(owner), "frozen": frozen, "by": by, "reason": reason})

    async def _ask(self, action: str, args: dict[str, Any]) -> Any:
        command = await asyncio.to_thread(store.submit, self.engine, action, args, self.clock())
        deadline = time.monotonic() + self.wait
        while True:  # bounded by the deadline
            got = await asyncio.to_thread(store.outcome, self.engine, command)
            if got is None and time.monotonic() >= deadline:
                if await asyncio.to_thread(_withdraw, self.engine, command, self.clock()):
                    raise AdminUnavailable(
                        f"no decider carried out this command within {self.wait:g}s, so it was withdrawn: is a decider "
                        "leading? (GET /readyz on the deciders answers 200 on the leader); send it again when one is"
                    )
                got = await asyncio.to_thread(store.outcome, self.engine, command)  # carried out just now
            if got is not None:
                return _answer(action, *got)
            await asyncio.sleep(POLL)


def _withdraw(engine: Engine, command: int, now: float) -> bool:
    """Mark a command nobody took as done (withdrawn); False when the decider finished it first."""
    c = AdminCommandRow
    with begin_write(engine) as conn:
        done = conn.execute(
            update(c)
            .where(c.id == command, c.done_at.is_(None))
            .values(done_at=now, outcome="withdrawn", result=json.dumps({"error": "no decider took it in time"}))
        )
        return bool(done.rowcount)


def _answer(action: str, outcome: str, result: Any) -> Any:
    if outcome == "ok":
        return result
    error = (result or {}).get("error", "the decider could not carry out the command")
    if outcome == "not_found":
        raise UnknownPlan(error) if action in ("approve_plan", "reject_plan") else LookupError(error)
    if outcome == "conflict":
        raise LookupError(error)
    raise AdminUnavailable(f"the decider could not carry out the command: {error}")


def _override_args(override: Override) -> dict[str, Any]:
    return {"state": override.state.value, "by": override.by, "reason": override.reason, "until": override.until}


class CommandRunner:
    """The leading decider's side: carry out the pending commands, in order, through its own admin actions."""

    def __init__(self, engine: Engine, admin: Admin, clock: Callable[[], float] = time.time, every: float = RUN_EVERY) -> None:
        self.engine, self.admin, self.clock, self.every = engine, admin, clock, every
        self.task: asyncio.Task | None = None

    async def run_once(self) -> int:
        """Carry out what is pending now; how many commands."""
        rows = await asyncio.to_thread(store.pending, self.engine)
        for row in rows:
            outcome, result = await self._carry(row.action, json.loads(row.args))
            await asyncio.to_thread(store.finish, self.engine, row.id, outcome, result, self.clock())
        return len(rows)

    async def _carry(self, action: str, args: dict[str, Any]) -> tuple[str, Any]:
        try:
            return "ok", await self._do(action, args)
        except UnknownPlan as exc:
            return "not_found", {"error": str(exc)}
        except LookupError as exc:
            return ("conflict" if action in ("approve_plan", "reject_plan") else "not_found"), {"error": str(exc)}
        except Exception as exc:  # a bug must not stop the next commands: the web instance answers 503 with it
            log.exception("admin command %s failed", action)
            return "error", {"error": f"{type(exc).__name__}: {exc}"}

    async def _do(self, action: str, args: dict[str, Any]) -> Any:
        admin = self.admin
        if action == "set_override":
            o = args["override"]
            await admin.set_override(args["channel"], None if o is None else Override(State(o["state"]), o["by"], o["reason"], o["until"]))
            return {}
        if action == "add_window":
            return {"id": await admin.add_window(args["channel"], Window(**args["window"]))}
        if action == "remove_window":
            return {"removed": await admin.remove_window(args["channel"], int(args["id"]))}
        if action == "approve_plan":
            approved = await admin.approve_plan(int(args["plan"]), args["by"])
            return {"owner": list(approved.owner), "after": dict(approved.after)}
        if action == "reject_plan":
            return {"owner": list(await admin.reject_plan(int(args["plan"]), args["by"]))}
        if action == "set_frozen":
            owner = args["owner"]
            await admin.set_frozen((owner[0], owner[1]), bool(args["frozen"]), args["by"], args["reason"])
            return {}
        raise ValueError(f"unknown admin command {action!r}")

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="admin-commands")

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the database is away: the commands wait, their senders time out
                log.warning("decider: cannot read admin commands (%s)", exc)
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
