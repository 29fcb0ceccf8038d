"""What the status page says about failover: where each promotion's money is, and what needs a person. Pure.

Where the money is comes from what receivers acknowledged (failover_targets.applied), not from the channels'
standings: a frozen promotion keeps its money on a failed channel, and keeps it away from a channel that is
healthy again until a person unfreezes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core.money import money


@dataclass(slots=True)
class Attention:
    """The banner: one sentence per promotion or notice that needs a look, and how bad it is."""

    level: str = "degraded"  # "down" when something is frozen or held
    lines: list[str] = field(default_factory=list)


def placed(promotion: Mapping[str, Any]) -> dict[str, int]:
    """Where a promotion's money is on each channel: the applied value, else (none acknowledged yet) the planned one.

    A dry run applies nothing, so there it falls back to the normal amount.
    """
    fallback = promotion["normal"] if promotion["mode"] == "dry-run" else promotion["planned"]
    applied = promotion.get("applied") or {}
    return {c: applied[c] if applied.get(c) is not None else fallback.get(c, 0) for c in promotion["normal"]}


def away(promotion: Mapping[str, Any], where: Mapping[str, int]) -> dict[str, int]:
    """How much of each channel's normal amount is elsewhere now (channels holding all of theirs left out)."""
    return {c: normal - where.get(c, 0) for c, normal in promotion["normal"].items() if where.get(c, 0) < normal}


def moved_away_from(summary: Mapping[str, Any]) -> list[str]:
    """The channels some promotion's money has left (by the applied values), in config order."""
    channels: list[str] = []
    for p in summary["promotions"]:
        channels += [c for c in away(p, placed(p)) if c not in channels]
    return channels


def attention(summary: Mapping[str, Any], names: Mapping[str, str], *, amounts: bool) -> Attention | None:
    """What the banner says, or None when failover needs nobody.

    A promotion needs a look when it is frozen, held, waiting for approval, or any of its money is away
    from its normal channels; a notice when it is frozen or waiting. Without `amounts` (show_failover off:
    a public page must not reveal budgets) the banner says only that failover needs attention.
    """
    result = Attention()
    for p in summary["promotions"]:
        line = _promotion_line(p, names)
        if line:
            result.lines.append(line)
            if p["frozen"] or p["held"]:
                result.level = "down"
    for n in summary["notices"]:
        if n["frozen"]:
            result.lines.append(f"Notice {n['id']} is frozen{_why(n['reason'])}")
            result.level = "down"
        elif n["pending_plan"] is not None:
            result.lines.append(f"Notice {n['id']} waits for approval of plan {n['pending_plan']}")
    if not result.lines:
        return None
    if not amounts:
        result.lines = ["Failover needs attention."]
    return result


def _promotion_line(p: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    name = p["name"]
    if p["frozen"]:
        state = f"{name} is frozen{_why(p['reason'])}"
    elif p["held"]:
        state = f"{name} is held (no healthy channel to move it to; the last allocation is kept)"
    elif p["pending_plan"] is not None:
        state = f"{name} waits for approval of plan {p['pending_plan']}"
    else:
        state = ""
    if p["mode"] == "dry-run" and p["planned"] != p["normal"]:  # nothing applied: say what it would do
        would = away(p, p["planned"])
        what = f"would move {_amount(sum(would.values()), p['unit'])} away from {_places(would, names)}; nothing is applied (dry run)"
        return f"{state}; it {what}" if state else f"{name} {what}"
    gone = away(p, placed(p))
    if gone:
        what = f"{_amount(sum(gone.values()), p['unit'])} is {'still ' if state else ''}away from {_places(gone, names)}"
        return f"{state}: {what}" if state else f"{name}: {what}"
    return state or None


def _why(reason: str) -> str:
    reason = " ".join(reason.split())
    return f" ({reason[:199] + '…' if len(reason) > 200 else reason})" if reason else ""


def _amount(value: int, unit: str) -> str:
    return f"a weight of {money(value, unit)}" if unit == "weight" else money(value, unit)


def _places(channels: Mapping[str, int], names: Mapping[str, str]) -> str:
    """'Facebook Shop', 'Facebook Shop and Instagram Shop', 'A, B and C'."""
    words = [names.get(c, c) for c in channels]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
