"""Approving a failover plan and freezing a promotion from Slack: the plan's message in the incident's thread has
Approve and Freeze buttons; a click signed with the app's Signing Secret, fresh, seen once and made by an approver
(a named user, or a member of a named user group) is carried out and the message loses its buttons saying who
decided; a bad signature, a stale timestamp, a replay or an unlisted user changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

from monitor.app import create_app
from monitor.running import MONITOR
from tests.fakes import eventually
from tests.fakes_slack import TOKEN, FakeSlack
from tests.support import config as cfg
from tests.support.failover import ADMIN_TOKEN, NORMAL, shops_and_receiver

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


async def world(tmp_path, aiohttp_server, aiohttp_client):
    fakes, receiver = await shops_and_receiver(aiohttp_server)
    slack = FakeSlack()
    slack.url = str((await aiohttp_server(slack.app)).make_url("/"))
    slack.usergroups["S0LEADS"] = ["U0LEAD"]
    channels = [cfg.channel(c, f.url) for c, f in fakes.items()]
    config = cfg.config(
        channels,
        data_dir=tmp_path,
        admin_token=ADMIN_TOKEN,
        failover=cfg.failover(receiver.url, [cfg.promotion(NORMAL, total=100000, mode="approve")]),
        alerts={
            "group_wait": "0s",
            "notifiers": [
                {
                    "id": "slack",
                    "kind": "slack",
                    "token": TOKEN,
                    "channel": "#ops",
                    "base_url": f"{slack.url}api/",
                    "min_interval": 0.05,
                    "signing_secret": SIGNING_SECRET,
                    "approvers": ["U0OPS", "S0LEADS"],
                }
            ],
        },
    )
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
    return app, client, fakes, receiver, slack


def buttons(slack: FakeSlack) -> dict:
    """The action elements of the last reply that has buttons, by action_id."""
    for message in reversed(list(slack.messages.values())):
        for block in message.blocks:
            if block.get("type") == "actions":
                return {e["action_id"]: e | {"block_id": block["block_id"], "message": message} for e in block["elements"]}
    return {}


def click(slack: FakeSlack, button: dict, user: str, *, ts: float | None = None, secret: str = SIGNING_SECRET) -> tuple[bytes, dict]:
    """A click as Slack sends it: the form field payload, signed v0 with the signing secret at `ts`."""
    message = button["message"]
    payload = {
        "type": "block_actions",
        "team": {"id": "T0SHOP"},
        "user": {"id": user, "username": user.lower(), "name": user.lower()},
        "response_url": slack.response_url(f"T0/{user}/{button['action_id']}"),
        "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": button["block_id"],
                "value": button["value"],
                "type": "button",
                "action_ts": "1733390000.123",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(ts if ts is not None else time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    return body, headers


def pending(app) -> int | None:
    p = app[MONITOR].failover.pending.get(("promotion", "ads"))
    return p.plan_id if p else None


async def test_a_plan_waiting_for_approval_is_approved_from_slack_by_an_approver_only(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver, slack = await world(tmp_path, aiohttp_server, aiohttp_client)
    fakes["facebook"].mode = "error"
    await eventually(lambda: "cm_approve" in buttons(slack), timeout=15)
    plan = pending(app)
    assert plan is not None
    approve = buttons(slack)["cm_approve"]
    assert approve["style"] == "primary" and "cm_freeze" in buttons(slack)
    assert json.loads(approve["value"]) == {"k": "promotion", "o": "ads", "after": {"shop": 62500, "allegro": 37500, "facebook": 0}}

    # A forged signature and a stale timestamp: 401, nothing changes.
    body, headers = click(slack, approve, "U0OPS", secret="not-the-signing-secret")
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 401
    body, headers = click(slack, approve, "U0OPS", ts=time.time() - 301)
    response = await client.post("/slack/interactions", data=body, headers=headers)
    assert response.status == 401 and "timestamp" in await response.text()
    assert pending(app) == plan and slack.responses == []

    # Someone not among the approvers: told so, alone; nothing changes.
    body, headers = click(slack, approve, "U0INTERN")
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    assert slack.responses[-1]["response_type"] == "ephemeral" and "not allowed" in slack.responses[-1]["text"]
    assert pending(app) == plan

    # A member of the approvers' user group: approved; the message says who, and its buttons are gone.
    body, headers = click(slack, approve, "U0LEAD")
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    assert pending(app) is None
    answer = slack.responses[-1]
    assert answer["replace_original"] is True and not any(b["type"] == "actions" for b in answer["blocks"])
    assert f"Plan {plan} approved by <@U0LEAD>" in json.dumps(answer["blocks"])
    await eventually(lambda: receiver.spending("ads") == {"shop": 62500, "allegro": 37500, "facebook": 0}, timeout=10)

    # The same request again (a replay, or Slack's retry): nothing is done twice, nothing is answered.
    answered = len(slack.responses)
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    assert len(slack.responses) == answered
    status = await (await client.get("/api/failover", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).json()
    approved = [p for p in status["plans"] if p["id"] == plan]
    assert approved and approved[0]["status"] == "approved" and approved[0]["decided_by"] == "u0lead (Slack U0LEAD)"


async def test_freeze_from_slack_holds_the_promotion(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, _receiver, slack = await world(tmp_path, aiohttp_server, aiohttp_client)
    fakes["facebook"].mode = "error"
    await eventually(lambda: "cm_freeze" in buttons(slack), timeout=15)
    body, headers = click(slack, buttons(slack)["cm_freeze"], "U0OPS")
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    status = app[MONITOR].failover.owners[("promotion", "ads")]
    assert status.frozen and status.by == "u0ops (Slack U0OPS)"
    assert "ads frozen by <@U0OPS>" in json.dumps(slack.responses[-1]["blocks"])


async def test_without_a_signing_secret_there_are_no_buttons_and_no_endpoint(tmp_path, aiohttp_server, aiohttp_client):
    fakes, receiver = await shops_and_receiver(aiohttp_server)
    config = cfg.config([cfg.channel(c, f.url) for c, f in fakes.items()], data_dir=tmp_path)
    client = await aiohttp_client(create_app(config, flush_interval=0.05))
    response = await client.post("/slack/interactions", data=b"payload=%7B%7D")
    assert response.status == 404 and "signing_secret" in await response.text()


async def test_reject_from_slack_moves_nothing_and_takes_the_buttons_away(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver, slack = await world(tmp_path, aiohttp_server, aiohttp_client)
    fakes["facebook"].mode = "error"
    await eventually(lambda: "cm_reject" in buttons(slack), timeout=15)
    plan = pending(app)
    body, headers = click(slack, buttons(slack)["cm_reject"], "U0OPS")
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    assert pending(app) is None and receiver.spending("ads") == NORMAL
    answer = json.dumps(slack.responses[-1]["blocks"])
    assert f"Plan {plan} rejected by <@U0OPS>" in answer and '"type": "actions"' not in answer


async def test_a_plan_decided_with_the_api_loses_its_buttons_in_slack_too(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver, slack = await world(tmp_path, aiohttp_server, aiohttp_client)
    fakes["facebook"].mode = "error"
    await eventually(lambda: "cm_approve" in buttons(slack), timeout=15)
    plan = pending(app)
    with_buttons = buttons(slack)["cm_approve"]["message"]
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    r = await client.post(f"/api/admin/failover/plans/{plan}/approve", json={"by": "ola"}, headers=auth)
    assert r.status == 200
    # The decision goes into the thread, and the reply that had the buttons is updated without them.
    await eventually(lambda: with_buttons.versions, timeout=10)
    assert not any(b["type"] == "actions" for b in with_buttons.blocks)
    assert f"Plan {plan} approved by ola at" in json.dumps(with_buttons.blocks)
    await eventually(lambda: any("approved by ola" in m.text for m in slack.replies(with_buttons.thread_ts)), timeout=5)
    await eventually(lambda: receiver.spending("ads") == {"shop": 62500, "allegro": 37500, "facebook": 0}, timeout=10)

    # A click on the message a person still had open: told, alone, that nothing waits any more.
    body, headers = click(slack, buttons_of(with_buttons.versions[0]["blocks"], with_buttons), "U0OPS")
    assert (await client.post("/slack/interactions", data=body, headers=headers)).status == 200
    assert slack.responses[-1]["response_type"] == "ephemeral" and "no plan for ads waits for approval now" in slack.responses[-1]["text"]


def buttons_of(blocks: list, message) -> dict:
    [actions] = [b for b in blocks if b["type"] == "actions"]
    approve = next(e for e in actions["elements"] if e["action_id"] == "cm_approve")
    return approve | {"block_id": actions["block_id"], "message": message}


async def test_without_the_history_scope_the_buttons_stay_and_the_decision_is_still_posted(
    tmp_path, aiohttp_server, aiohttp_client, caplog
):
    app, client, fakes, _receiver, slack = await world(tmp_path, aiohttp_server, aiohttp_client)
    slack.missing_scopes.add("conversations.replies")
    fakes["facebook"].mode = "error"
    await eventually(lambda: "cm_approve" in buttons(slack), timeout=15)
    with_buttons = buttons(slack)["cm_approve"]["message"]
    r = await client.post(
        "/api/admin/failover/promotions/ads/freeze", json={"by": "ola"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert r.status == 200
    await eventually(lambda: any("frozen by ola" in m.text for m in slack.replies(with_buttons.thread_ts)), timeout=10)
    assert with_buttons.versions == [] and "reading the thread needs the scope channels:history" in caplog.text
