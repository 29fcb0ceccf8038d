"""examples/slack_approval_demo.py, run as the docs tell users to: the demo's plan is approved from the fake Slack."""

from __future__ import annotations

import asyncio
import sys

from tests.support import ROOT


async def test_the_slack_approval_walkthrough_runs_and_shows_each_step():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "slack_approval_demo.py"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "[Approve]  [Reject]  [Freeze]" in text
    assert "U0INTERN (not an approver) clicks Approve; only they see:\n    You are not allowed to approve" in text
    assert "(Plan 1 approved by <@U0ANA> at " in text
    assert "Christmas ads now: facebook-shop 0.00 PLN" in text
