"""A service spread over processes on one PostgreSQL, as deploy/compose.yaml runs it: probers in several
locations, deciders, relays. Each location sees the shop through its own port of one test server, so the test
decides what each location sees (the stand-in for a resolver or a route that fails in one place only)."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from aiohttp import web
from sqlalchemy import create_engine, text

from tests.support import ROOT
from tests.support.cli import EXE, free_port


class Shop:
    """One shop page, served on a port per location; each location's answer is set by the test."""

    def __init__(self, locations: list[str]) -> None:
        self.ports = {loc: free_port() for loc in locations}
        self.failing: set[str] = set()
        self.hits: dict[str, int] = dict.fromkeys(locations, 0)
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        for loc, port in self.ports.items():
            app = web.Application()
            app.router.add_get("/", self._page(loc))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)

    def _page(self, loc: str):
        async def page(_request: web.Request) -> web.Response:
            self.hits[loc] += 1
            if loc in self.failing:
                return web.Response(status=503, text="Service Unavailable")
            return web.Response(text="<h1>Shop</h1> Add to cart")

        return page

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


def write_config(path: Path, database_url: str, shop_port: int, extra: str = "") -> Path:
    path.write_text(f"""
database_url: {database_url}
allow_networks: [127.0.0.0/8]
defaults: {{interval: 300ms, timeout: 250ms, fail_threshold: 2, recover_threshold: 2}}
probing: {{heartbeat: 200ms, heartbeat_timeout: 1s}}
channels:
  - id: shop
    name: Shop
    checks:
      - {{kind: http, id: home, target: 'http://127.0.0.1:{shop_port}/', body_contains: ['Add to cart']}}
{extra}""")
    return path


class Process:
    """One `channel-monitor run` of the cluster; its output goes to a log file the test prints on failure."""

    def __init__(self, name: str, log_dir: Path, *args: str) -> None:
        self.name, self.args = name, args
        self.log = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Process:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(*EXE, "run", *self.args, cwd=ROOT, stdout=out, stderr=out)
        out.close()
        return self

    @property
    def port(self) -> int:
        return int(self.args[self.args.index("--listen") + 1].rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout)


class Database:
    """The test's own reads of the cluster's database."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])

    def rows(self, sql: str, **params) -> list:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(text(sql), params).all())
        except Exception:  # not migrated yet: no table
            return []

    def scalar(self, sql: str, **params):
        rows = self.rows(sql, **params)
        return rows[0][0] if rows else None


class Processes:
    """The processes of one test's cluster, all with the same config; every one killed at the end (`close`)."""

    def __init__(self, log_dir: Path, config: Path) -> None:
        self.log_dir, self.config = log_dir, config
        self.all: list[Process] = []

    async def start(self, name: str, *args: str) -> Process:
        p = Process(name, self.log_dir, "--config", str(self.config), *args, "--listen", f"127.0.0.1:{free_port()}")
        self.all.append(p)
        return await p.start()

    def by_pid(self, pid: int) -> Process:
        return next(p for p in self.all if p.proc is not None and p.pid == pid)

    def logs(self) -> str:
        return logs(self.all)

    async def close(self) -> None:
        for p in self.all:
            if p.proc is not None and p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()


def logs(processes: list[Process]) -> str:
    return "\n".join(f"--- {p.name}\n{p.log.read_text(errors='replace')[-3000:]}" for p in processes if p.log.exists())


def pid_of(holder: str) -> int:
    """The pid in a holder or prober id: host:pid, location/host:pid:tail, decide/host:pid#epoch."""
    match = re.search(r":(\d+)", holder)
    assert match, holder
    return int(match.group(1))
