"""The `channel-monitor` command in a subprocess, as users run it: one-shot commands and the service."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

from tests.support import ROOT

EXE = [sys.executable, "-m", "monitor.cli"]


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server started next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_cli(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run one command to its end: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *EXE,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env is not None else None,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


def write_allegro_config(tmp_path: Path, url: str, interval: str = "200ms") -> Path:
    """Write tmp_path/channels.yaml by hand, as a user would: one channel, allegro, whose http check `home` of url
    wants "Add to cart" (a FakeChannel's page), quick verdicts, and its SQLite data in tmp_path/data (db_rows reads
    it). Tests add channels or keys to the text; tests.support.config.write_config builds configs from values."""
    path = tmp_path / "channels.yaml"
    path.write_text(f"""
data_dir: {tmp_path / "data"}
allow_networks: [127.0.0.0/8]
defaults: {{interval: {interval}, timeout: 150ms, fail_threshold: 2, recover_threshold: 2}}
channels:
  - id: allegro
    name: Allegro
    checks:
      - {{kind: http, id: home, target: '{url}', body_contains: ['Add to cart']}}
""")
    return path


def db_rows(tmp_path: Path, sql: str) -> list[tuple]:
    """The rows of sql in the SQLite database of a write_allegro_config service (tmp_path/data)."""
    with sqlite3.connect(tmp_path / "data" / "channel-monitor.db") as conn:
        return conn.execute(sql).fetchall()


class Service:
    """`channel-monitor run` in a subprocess, stopped by the test."""

    def __init__(self, *args: str) -> None:
        self.args = args

    async def __aenter__(self) -> Service:
        self.proc = await asyncio.create_subprocess_exec(
            *EXE, "run", *self.args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        self.first_line = (await asyncio.wait_for(self.proc.stdout.readline(), 20)).decode()
        return self

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = await asyncio.wait_for(self.proc.communicate(), 20)
        return self.proc.returncode, err.decode()

    async def __aexit__(self, *exc) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
