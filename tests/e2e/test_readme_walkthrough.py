"""The README's "Try the demo" walkthrough, exactly as written, against the demo it starts (ten times faster with
CM_DEMO_SPEED=10, as the README says one may): it must end where a seller expects, with every promotion back at
its normal allocation, applied, and nothing frozen, held or waiting for approval."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import time
import urllib.request

from tests.support import ROOT
from tests.support.cli import EXE, free_port, run_cli

SPEED = 10  # every demo delay and the replay's minutes divided by 10
PAUSE = 2.0  # seconds between commands: 20 s of a person reading the output at the demo's own speed


def walkthrough() -> list[list[str]]:
    """The commands of the README's "Try the demo" block, as a newcomer pastes them."""
    section = (ROOT / "README.md").read_text().split("## Try the demo", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]
    assert all(c[0] == ".venv/bin/channel-monitor" for c in commands), commands
    return [c[1:] for c in commands]


def failover(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/failover", timeout=5) as answer:
        return json.loads(answer.read())


def settled(summary: dict) -> bool:
    return (
        not summary["failed_over"]
        and all(
            p["planned"] == p["normal"] and p["applied"] == p["normal"] and not (p["frozen"] or p["held"] or p["pending_plan"])
            for p in summary["promotions"]
        )
        and not any(n["frozen"] or any(n["posted"].values()) for n in summary["notices"])
    )


async def test_the_readme_walkthrough_ends_with_the_money_back_and_nothing_frozen(tmp_path):
    commands = walkthrough()
    assert [c[:2] for c in commands] == [
        ["demo", "break"],
        ["demo", "break"],
        ["demo", "status"],
        ["demo", "heal"],
        ["demo", "replay-2021"],
    ]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        *EXE,
        "--listen",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(tmp_path / "data"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CM_DEMO_SPEED": str(SPEED)},
    )
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().startswith(f"Status page: {url}/")
        await asyncio.sleep(3)  # every channel up (checks every 0.5 s)
        replay_minutes = 0.0
        for command in commands:
            code, out, err = await run_cli(*command, "--url", url)
            assert code == 0, (command, out, err)
            if command[1] == "replay-2021":
                replay_minutes = float(command[command.index("--minutes") + 1])
            await asyncio.sleep(PAUSE)
        # The replay, then recovery (two good checks), failback_after and the settle window, with room to spare.
        deadline = time.monotonic() + replay_minutes * 60 / SPEED + 20
        summary = failover(url)
        while not settled(summary) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            summary = await asyncio.to_thread(failover, url)
        assert settled(summary), json.dumps({k: summary[k] for k in ("failed_over", "promotions", "notices")}, indent=1)
        # Allegro out, Meta out (Allegro back meanwhile or not), everything back: each plan carried out.
        moves = [(p["status"], p["reason"].get("failed")) for p in summary["plans"] if p["owner"] == "christmas-ads"]
        assert 2 <= len(moves) <= 4 and {status for status, _ in moves} == {"applied"}, moves
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
