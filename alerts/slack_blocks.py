"""Slack message payloads (Block Kit) for alerts: pure functions of a Batch, no I/O.

Every value that comes from an alert is escaped (https://api.slack.com/reference/surfaces/formatting#escaping)
so probe text can never become a link or a mention, and text is cut to Block Kit's limits
(https://api.slack.com/reference/block-kit/blocks) so Slack never answers msg_too_long or invalid_blocks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from alerts.base import Alert, Batch, current, human_duration
from alerts.wording import Wording

HEADER_MAX = 150  # header block text
SECTION_MAX = 3000  # section block text
LINE_MAX = 270  # one line of the message: 10 lines and "and N more" always fit a section
DETAIL_MAX = 600  # one bullet of a thread reply
MAX_LINES = 10  # lines in the message before "and N more"
MAX_DETAILS = 40  # bullets in one thread reply (keeps it far under Slack's 40,000 characters)
EMOJI = {"critical": ":red_circle:", "warning": ":large_yellow_circle:", "info": ":large_green_circle:"}
_RANK = {"info": 0, "warning": 1, "critical": 2}

Payload = dict[str, Any]


def escape(text: str) -> str:
    """Escape Slack's control characters &, < and > (and nothing else: Slack decodes only these three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """Cut escaped text to at most limit characters, ending in '…', never inside an &entity;."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def message(batch: Batch, thread_alerts: Sequence[Alert], wording: Wording) -> Payload:
    """The top-level message over every alert it covers (an earlier thread's and this batch's)."""
    alerts = (*thread_alerts, *batch.alerts)
    shown = current(alerts)
    title = escape(wording.title(alerts))
    severity = max((a.severity for a in shown), key=_RANK.__getitem__)
    lines = [f"• {fit(escape(wording.line(a)), LINE_MAX)}" for a in shown[:MAX_LINES]]
    if len(shown) > MAX_LINES:
        lines.append(f"and {len(shown) - MAX_LINES} more")
    context = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(max(a.at for a in alerts)))
    if batch.status_url:
        context += f" · <{_link(batch.status_url)}|Status page>"
    return {
        "text": fit(title, SECTION_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": fit(f"{EMOJI[severity]} {title}", HEADER_MAX), "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": fit("\n".join(lines), SECTION_MAX)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def reply(batch: Batch, wording: Wording, buttons: bool = False) -> Payload:
    """The thread reply: one bullet of details per alert of this batch; with `buttons` (the notifier verifies
    clicks), Approve on a plan waiting for approval and Freeze on failover moves (monitor/web/slack_click.py)."""
    bullets = [f"• {fit(escape(detail(a, wording)), DETAIL_MAX)}" for a in batch.alerts[:MAX_DETAILS]]
    if len(batch.alerts) > MAX_DETAILS:
        bullets.append(f"and {len(batch.alerts) - MAX_DETAILS} more (the monitor's log has every alert)")
    sections: list[str] = []
    for bullet in bullets:
        if sections and len(sections[-1]) + 1 + len(bullet) <= SECTION_MAX:
            sections[-1] += "\n" + bullet
        else:
            sections.append(bullet)
    blocks: list[Payload] = [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
    if buttons:
        blocks += [b for b in (action_block(a) for a in batch.alerts) if b is not None]
    return {"text": fit(sections[0], SECTION_MAX) if sections else "", "blocks": blocks}


BUTTON_VALUE_MAX = 2000  # Block Kit's limit on a button's value


def action_block(alert: Alert) -> Payload | None:
    """The buttons of one failover alert: Approve and Reject (a plan waiting for approval) and Freeze; None for others."""
    kind, owner = alert.cause.get("owner_kind"), alert.cause.get("owner")
    if not kind or not owner or alert.event not in ("failover_approval_needed", "failover_planned"):
        return None
    elements: list[Payload] = []
    if alert.event == "failover_approval_needed" and alert.cause.get("after"):
        value = json.dumps({"k": kind, "o": owner, "after": json.loads(alert.cause["after"] or "{}")}, separators=(",", ":"))
        if len(value) <= BUTTON_VALUE_MAX:  # else too many channels for a button: decide with the CLI or the API
            elements.append(_button("Approve", "cm_approve", value, "primary"))
            elements.append(_button("Reject", "cm_reject", value, None))
    freeze = json.dumps({"k": kind, "o": owner}, separators=(",", ":"))
    elements.append(_button("Freeze", "cm_freeze", freeze, "danger"))
    return {"type": "actions", "block_id": f"cm-{alert.id or 0}-{kind}-{owner}"[:255], "elements": elements}


def _button(text: str, action_id: str, value: str, style: str | None) -> Payload:
    button: Payload = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
    return button | {"style": style} if style else button


def webhook_message(batch: Batch, wording: Wording) -> Payload:
    """An incoming webhook's body: the same message; a webhook cannot update it or reply in a thread."""
    return message(batch, (), wording)


def detail(alert: Alert, wording: Wording) -> str:
    """One alert's details in plain words (not escaped): check, error class and text, how long it was down."""
    if alert.event != "state":
        return wording.line(alert)  # a failover line carries its detail: which promotion moved where
    parts = [f"{alert.channel_name} ({alert.channel}): {alert.old_state} → {alert.new_state}"]
    cause = alert.cause
    if cause.get("check"):
        parts.append(f"check {cause['check']}")
    if cause.get("error_class"):
        parts.append(f"{cause['error_class']}: {cause.get('error') or wording.cause(alert)}")
    elif cause.get("maintenance") or cause.get("override_by"):
        parts.append(wording.cause(alert))
    if alert.down_for is not None:
        parts.append(f"was down for {human_duration(alert.down_for)}")
    return " · ".join(parts)


def _link(url: str) -> str:
    # Inside <url|text>, "|" ends the URL: percent-encode it; escape the rest like any text.
    return escape(url.replace("|", "%7C"))


def without_buttons(message: Payload, decided: dict[tuple[str | None, str | None], str], at: float) -> Payload | None:
    """A thread reply with the buttons of a decided promotion or notice taken away, saying who decided and when
    (`at`); None when it has none of them. `decided`: (kind, owner) -> "plan 12 approved by ola"."""
    blocks = message.get("blocks") or []
    said = [
        text
        for (kind, owner), text in decided.items()
        for b in blocks
        if b.get("type") == "actions" and str(b.get("block_id", "")).endswith(f"-{kind}-{owner}")
    ]
    if not said:
        return None
    kept = [
        b for b in blocks if not (b.get("type") == "actions" and any(str(b.get("block_id", "")).endswith(f"-{k}-{o}") for k, o in decided))
    ]
    stamp = time.strftime("%H:%M UTC", time.gmtime(at))
    kept.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(escape(f"{said[0].capitalize()} at {stamp}"), SECTION_MAX)}]}
    )
    return {"text": message.get("text") or said[0], "blocks": kept}
