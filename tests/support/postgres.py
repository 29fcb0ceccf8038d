"""A throw-away PostgreSQL cluster on loopback for the storage tests, made with the server's own binaries."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def _bindir() -> Path:
    """The newest Debian server binaries (/usr/lib/postgresql/N/bin), or initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("no initdb in /usr/lib/postgresql/*/bin or on PATH")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """initdb + pg_ctl in a temporary directory; trust authentication, listening on 127.0.0.1 only."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.as_user: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="cm-postgres-"))
        if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.port = 0

    def _run(self, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise Unavailable(f"{Path(args[0]).name} failed: {(proc.stderr or proc.stdout).strip()} {tail}".strip())

    def start(self) -> str:
        """Create and start the cluster; return its superuser URL."""
        try:
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"
            )
            for attempt in range(3):  # another process may take the free port before the server binds it
                self.port = _free_port()
                try:
                    self._run(
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(self.data),
                        "-l",
                        str(self.root / "server.log"),
                        "-w",
                        "-t",
                        "30",
                        "-o",
                        f"-p {self.port} -h 127.0.0.1 -k {self.root} -F -c full_page_writes=off "
                        "-c synchronous_commit=off -c max_connections=200",
                        "start",
                    )
                    break
                except Unavailable:
                    if attempt == 2:
                        raise
        except (Unavailable, OSError, subprocess.TimeoutExpired) as exc:
            self.remove()
            raise Unavailable(str(exc)) from None
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (Unavailable, OSError, subprocess.TimeoutExpired):
            pass
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
