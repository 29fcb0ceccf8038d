"""What the failover actuator tests share: their fixed clock, the webhook secret, an Action to send, and a
webhook actuator config (tests/failover/test_actuators.py and test_example_receiver.py)."""

from __future__ import annotations

from typing import Any

from monitor.failover.actions import Action
from monitor.failover.actuators import webhook

NOW = 1_700_000_000.0  # the actuators' clock: 2023-11-14T22:13:20Z
SECRET = "whsec-0123456789abcdef"
ADSET = "120210000000001"  # the Meta ad set an action targets


def action(op: str = "set_amount", **kw: Any) -> Action:
    """An action of a Black Friday promotion (or, for the notice ops, a notice) on channel meta; kw overrides."""
    defaults: dict[str, Any] = {
        "id": 7,
        "key": "act-7f3a",
        "op": op,
        "channel": "meta",
        "target": ADSET,
        "unit": "PLN",
        "promotion": None if op.endswith("notice") else "black-friday",
        "notice": "meta-down" if op.endswith("notice") else None,
        "reason": {"incident": 42, "failed": ["meta"], "plan": "p-9"},
    }
    if op == "set_amount":
        defaults |= {"value": 8000, "expect": 5000}
    if op == "post_notice":
        defaults["text"] = "Facebook is down: order on our shop, free delivery today."
    return Action(**(defaults | kw))


def hook_config(url: str, **kw: Any) -> webhook.Config:
    """A webhook actuator's config for url, signed with SECRET unless kw says another secret."""
    return webhook.Config(url=url, secret=kw.pop("secret", SECRET), **kw)
