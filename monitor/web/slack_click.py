"""Clicks on the buttons of failover messages in Slack: verify, read, authorize, answer. No I/O here.

Slack POSTs each click to the app's interactivity URL (https://api.slack.com/interactivity/handling) as a form with
one field, `payload` (JSON), signed with the app's Signing Secret (X-Slack-Signature over
"v0:{X-Slack-Request-Timestamp}:{body}"). A click is acted on only when the signature is right (slack-sdk's
SignatureVerifier), its timestamp is at most 5 minutes old (older: a replay of a captured request), it was not
seen before (Slack may retry; an attacker may replay within the 5 minutes: the caller keeps the keys), and the
clicking user is one of the approvers (a user id, or a member of a user group named there). Anyone else gets an
ephemeral "not allowed" and nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

MAX_AGE = 300.0  # seconds: Slack's own advice (https://api.slack.com/authentication/verifying-requests-from-slack)
ACTIONS = ("cm_approve", "cm_reject", "cm_freeze")


class Refused(Exception):
    """The request is not a click to act on; the message says why (401 for a bad signature or stale time)."""


@dataclass(frozen=True, slots=True)
class Click:
    user: str  # Slack user id
    user_name: str
    action: str  # cm_approve, cm_reject or cm_freeze
    kind: str  # promotion or notice
    owner: str
    after: dict[str, int] | None  # cm_approve, cm_reject: the allocation the plan shown would apply
    response_url: str
    key: str  # the click's identity: a second request with it is a replay
    message: dict[str, Any]  # the message the button is on (to show who decided, without the buttons)


def verify(signing_secret: str, body: bytes, headers: Any, now: float) -> None:
    """Raise Refused unless Slack signed `body` with the secret within MAX_AGE of `now`."""
    stamp = headers.get("X-Slack-Request-Timestamp", "")
    try:
        age = abs(now - int(stamp))
    except ValueError:
        raise Refused("no X-Slack-Request-Timestamp: not a request from Slack") from None
    if age > MAX_AGE:
        raise Refused(f"the request's timestamp is {int(age)} s away from now (at most {int(MAX_AGE)}): a replay, or a clock that is off")
    verifier = SignatureVerifier(signing_secret, clock=_Clock(now))
    if not verifier.is_valid(body, stamp, headers.get("X-Slack-Signature", "")):
        raise Refused("the signature does not match the app's Signing Secret (signing_secret)")


class _Clock:
    """slack-sdk's clock interface, at the time the caller gives (so tests and the caller agree on 'now')."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def parse(body: bytes) -> Click:
    """The click in a verified request; Refused when it is not one of our buttons."""
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        value = json.loads(action["value"])
        user = payload["user"]
    except (KeyError, IndexError, ValueError, TypeError):
        raise Refused("not a block_actions payload with one of channel-monitor's buttons") from None
    if payload.get("type") != "block_actions" or action.get("action_id") not in ACTIONS:
        raise Refused("not a block_actions payload with one of channel-monitor's buttons")
    after = value.get("after")
    identity = (
        f"{payload.get('team', {}).get('id')}:{user.get('id')}:{action.get('action_ts')}:{action.get('action_id')}:{action.get('block_id')}"
    )
    return Click(
        user=str(user.get("id")),
        user_name=str(user.get("username") or user.get("name") or user.get("id")),
        action=action["action_id"],
        kind=str(value.get("k")),
        owner=str(value.get("o")),
        after={str(c): int(v) for c, v in after.items()} if isinstance(after, dict) else None,
        response_url=str(payload.get("response_url") or ""),
        key=hashlib.blake2b(identity.encode(), digest_size=16).hexdigest(),
        message=payload.get("message") or {},
    )


def allowed(user: str, approvers: list[str], groups: dict[str, set[str]]) -> bool:
    """Whether `user` is an approver: named, or a member of a named user group (`groups`: group -> members)."""
    return user in approvers or any(user in groups.get(g, set()) for g in approvers if g.startswith("S"))


def not_allowed(click: Click) -> dict[str, Any]:
    return {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"You are not allowed to {_verb(click)}: only the approvers named in channel-monitor's config can. Nothing was changed.",
    }


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def decided(click: Click, outcome: str, now: float) -> dict[str, Any]:
    """The message the button was on, without its buttons, saying who decided what and when."""
    when = time.strftime("%H:%M UTC", time.gmtime(now))
    blocks = [b for b in click.message.get("blocks") or [] if b.get("type") != "actions"]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{outcome} by <@{click.user}> at {when}"}]})
    return {"replace_original": True, "text": click.message.get("text") or outcome, "blocks": blocks}


def _verb(click: Click) -> str:
    if click.action == "cm_freeze":
        return f"freeze {click.owner}"
    return f"{'approve' if click.action == 'cm_approve' else 'reject'} failover plans for {click.owner}"
