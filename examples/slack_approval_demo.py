#!/usr/bin/env python3
"""Watch a failover plan approved from Slack, against the test suite's fake Slack: no Slack workspace needed.

    .venv/bin/python examples/slack_approval_demo.py          # about 15 s; everything on 127.0.0.1

It runs the built-in demo's simulated channels with the demo config, its "Christmas ads" promotion in
`mode: approve` and a slack notifier with a signing secret and one approver, posting to tests/fakes_slack.py's
fake Slack. Then it breaks Facebook Shop and prints, as Slack would show them: the alert, the thread reply with
the plan and its Approve / Reject / Freeze buttons, a click by someone who is not an approver (answered only to
them), the approver's click (signed as Slack signs it), and the message after it: no buttons, who approved and when.
The budgets moved are the demo's log actuator's lines. Exit status 0 when the flow went through, 1 when not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from monitor.app import create_app  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.demo import DemoWorld  # noqa: E402
from monitor.running import MONITOR  # noqa: E402
from tests.fakes_slack import TOKEN, FakeSlack  # noqa: E402

SIGNING_SECRET = "demo-signing-secret-0123456789abcdef"
APPROVER, INTERN = "U0ANA", "U0INTERN"
WAIT = 30.0  # every wait is bounded by this


def plain(text: str) -> str:
    """Slack's escaping undone, as Slack shows it (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def show(title: str, blocks: list[dict]) -> None:
    """A message as plain text: its sections and context, its buttons in brackets."""
    print(f"  {plain(title)}")
    for block in blocks:
        if block["type"] in ("section", "header"):
            for line in block["text"]["text"].splitlines():
                print(f"    {plain(line)}")
        elif block["type"] == "context":
            print("    (" + plain(" ".join(e.get("text", "") for e in block["elements"])) + ")")
        elif block["type"] == "actions":
            print("    " + "  ".join(f"[{e['text']['text']}]" for e in block["elements"]))


async def until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"slack_approval_demo: {what} did not happen within {WAIT:g}s")
        await asyncio.sleep(0.1)


def signed_click(slack: FakeSlack, message, button: dict, block_id: str, user: str) -> tuple[bytes, dict]:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0DEMO"},
        "user": {"id": user, "username": user.lower()},
        "response_url": slack.response_url(f"T0DEMO/{user}"),
        "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
        "actions": [{"action_id": button["action_id"], "block_id": block_id, "value": button["value"], "action_ts": str(time.time())}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


async def main() -> int:
    slack = FakeSlack()
    slack_server = TestServer(slack.app, host="127.0.0.1")
    await slack_server.start_server()
    slack.url = str(slack_server.make_url("/"))
    world = DemoWorld(speed=5.0)
    await world.start()
    data = tempfile.TemporaryDirectory(prefix="cm-slack-demo-")  # a fresh history: nothing decided yet
    text = world.config_text().replace("      mode: auto\n", "      mode: approve\n", 1)  # the Christmas ads ask first
    text += f"""data_dir: {data.name}
alerts:
  group_wait: 0s
  notifiers:
    - {{id: slack, kind: slack, token: '{TOKEN}', channel: '#ops', base_url: '{slack.url}api/', min_interval: 0.05,
       signing_secret: '{SIGNING_SECRET}', approvers: [{APPROVER}]}}
"""
    app = create_app(parse_config(text, source="<slack approval demo>"), flush_interval=0.1)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    monitor = app[MONITOR]
    try:
        await until(lambda: all(h.state.value == "up" for h in monitor.book.health.values()), "every demo channel up")
        print("Every demo channel is up. Facebook Shop breaks (HTTP 503)...\n")
        await world.set_mode("facebook-shop", "error")

        def with_buttons():
            for m in slack.messages.values():
                for b in m.blocks:
                    if b["type"] == "actions" and any(e["action_id"] == "cm_approve" for e in b["elements"]):
                        return m, b
            return None

        await until(lambda: with_buttons() is not None, "the plan's message with buttons")
        message, actions = with_buttons()
        parent = slack.messages[message.thread_ts]
        print("In #ops, the alert:")
        show(parent.text, parent.blocks)
        print("\nIn its thread, the plan waiting for approval:")
        show("reply", message.blocks)
        approve = next(e for e in actions["elements"] if e["action_id"] == "cm_approve")

        body, headers = signed_click(slack, message, approve, actions["block_id"], INTERN)
        await client.post("/slack/interactions", data=body, headers=headers)
        await until(lambda: slack.responses, "the answer to the intern")
        print(f"\n{INTERN} (not an approver) clicks Approve; only they see:\n    {slack.responses[-1]['text']}")

        body, headers = signed_click(slack, message, approve, actions["block_id"], APPROVER)
        response = await client.post("/slack/interactions", data=body, headers=headers)
        await until(lambda: len(slack.responses) >= 2, "the answer to the approver")
        print(f"\n{APPROVER} (an approver) clicks Approve (HTTP {response.status}); the message becomes:")
        show("reply", slack.responses[-1]["blocks"])
        await until(lambda: not monitor.failover.pending, "the plan carried out")
        planned = monitor.failover.planned[("promotion", "christmas-ads")]
        print("\nChristmas ads now: " + ", ".join(f"{c} {v / 100:,.2f} PLN" for c, v in planned.items()))
    finally:
        await client.close()
        await world.stop()
        await slack_server.close()
        data.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
