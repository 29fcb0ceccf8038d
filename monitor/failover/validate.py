"""Would the channels accept a plan's actions now? Each action asked of its actuator's validate-only mode.

`channel-monitor plan --fail X --validate` shows it next to the what-if allocation: the same reads, checks and
conflict test as a real send, the write validated by the channel's API and not carried out (google_ads:
`validateOnly`). A kind without such a mode (webhook, meta_ads, log) is reported as not checked, never as fine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from monitor.config import Config
from monitor.core.http import USER_AGENT
from monitor.core.money import money
from monitor.failover.actions import Action, ActuatorContext, ActuatorKind
from monitor.failover.config import Promotion
from monitor.failover.reconcile import ops
from probes.guard import NetworkGuard
from probes.session import create_outbound_session

VERDICTS = {"applied": "accepted", "conflict": "conflict", "failed": "refused"}  # retry: "try again"


async def validate_moves(
    config: Config, kinds: Mapping[str, ActuatorKind], promotion: Promotion, now: Mapping[str, int], after: Mapping[str, int]
) -> list[dict[str, Any]]:
    """One row per action the move from `now` to `after` would send: channel, op, actuator, verdict and detail."""
    actuators = {a.id: a for a in config.failover.actuators}
    rows: list[dict[str, Any]] = []
    async with create_outbound_session(USER_AGENT, NetworkGuard(config.allow_networks)) as http:
        ctx = ActuatorContext(http, logging.getLogger("monitor.actuators"), time.time)
        for channel, value in after.items():
            old = now.get(channel, 0)
            if value == old:
                continue
            placement = promotion.channels[channel]
            entry = actuators[placement.actuator]
            kind = kinds[entry.kind]
            for i, (op, amount, expect) in enumerate(ops("promotion", old, value)):
                action = Action(
                    id=0,
                    key=f"validate-{promotion.id}-{channel}-{i}",
                    op=op,  # type: ignore[arg-type]
                    promotion=promotion.id,
                    notice=None,
                    channel=channel,
                    target=placement.target,
                    value=amount,
                    expect=expect,
                    unit=promotion.unit,
                )
                what = f"{op} {money(amount, promotion.unit)}" if op == "set_amount" else op
                row = {"channel": channel, "action": what, "actuator": entry.id}
                if kind.validate is None:
                    rows.append(row | {"verdict": "not checked", "detail": f"{entry.kind} has no validate-only mode"})
                    continue
                result = await kind.validate(action, entry.options, ctx)
                verdict = VERDICTS.get(result.outcome, "try again")
                rows.append(row | {"verdict": verdict, "detail": result.detail})
    return rows
