"""The container's entry point and health check, run here as Docker would run them (Docker itself is not available)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import sys
from pathlib import Path

from tests.support import ROOT
from tests.support.cli import free_port

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instruction(name: str) -> str:
    """The text of a Dockerfile instruction, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    [match] = re.findall(rf"^{name}\s+(.*)$", text, flags=re.M)
    return match.strip()


def test_image_runs_as_non_root_from_a_slim_base():
    assert instruction("FROM").startswith("python:3.11-slim")
    assert instruction("USER") == "monitor"


async def test_entry_point_serves_and_passes_its_own_healthcheck(tmp_path):
    entry = json.loads(instruction("ENTRYPOINT"))
    cmd = json.loads(instruction("CMD"))
    assert entry == ["channel-monitor"]
    exe = shutil.which("channel-monitor", path=str(Path(sys.executable).parent))
    assert exe, "the console script is installed with the package (the README's test command)"
    port = free_port()
    # Same arguments as the image, but on loopback and a temporary data directory.
    args = [a.replace("0.0.0.0:8080", f"127.0.0.1:{port}").replace("/data", str(tmp_path / "data")) for a in cmd]
    proc = await asyncio.create_subprocess_exec(exe, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith(f"Status page: http://127.0.0.1:{port}/")
        health = json.loads(instruction("HEALTHCHECK").split("CMD", 1)[1])
        assert health[:2] == ["python", "-c"]
        check = await asyncio.create_subprocess_exec(sys.executable, "-c", health[2].replace(":8080/", f":{port}/"))
        assert await asyncio.wait_for(check.wait(), 10) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
