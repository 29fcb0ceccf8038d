"""Log actuator: write what would be done to the service log and change nothing (a dry run)."""

from __future__ import annotations

from monitor.core.money import money
from monitor.failover.actions import Action, ActionResult, ActuatorConfig, ActuatorContext, ActuatorKind


class Config(ActuatorConfig):
    """No options."""


def describe(action: Action) -> str:
    """One readable line: op, subject, channel, target, value or text, idempotency key."""
    subject = f"promotion {action.promotion}" if action.promotion is not None else f"notice {action.notice}"
    parts = [f"failover (log only): {action.op} {subject} on channel {action.channel}"]
    if action.target:
        parts.append(f"target {action.target}")
    if action.value is not None:
        # Money in major units (2,615.39 PLN, not 261539); a notice's 0/1 and a weight as they are.
        parts.append(f"value {money(action.value, action.unit) if action.unit else action.value}")
    if action.text is not None:
        parts.append(f"text {action.text!r}")  # repr keeps a multi-line notice on one log line
    parts.append(f"key {action.key}")
    return ", ".join(parts)


async def apply(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    """Log the action and report it applied."""
    ctx.log.info(describe(action), extra={"event": "failover_action", "action_key": action.key, "op": action.op, "channel": action.channel})
    return ActionResult.applied("logged")


KIND = ActuatorKind(Config, apply, description="log each action instead of making it (dry run)")
