"""A check as the running service sees it: every default applied, the kind's options and conditions parsed.

Config loading (monitor/config.py) turns each `checks:` entry of the file into one of these; nothing changes it
afterwards, so the runner, the book and the pages read one settled value (no `id or kind` anywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.conditions import Condition
from probes.base import ProbeConfig


@dataclass(frozen=True, slots=True)
class CheckSpec:
    id: str  # unique within its channel: the `id` from the file, else the kind
    kind: str
    target: str  # in the kind's normal form (e.g. an IDN in ASCII)
    interval_seconds: float
    timeout_seconds: float
    options: ProbeConfig  # the kind's own keys, validated by its model
    conditions: tuple[Condition, ...] = ()  # all must hold for the check to pass
    on_failure: Literal["down", "degraded"] = "down"  # "degraded": this check alone never takes the channel down
    quorum: str | int = "majority"  # voting locations that must see it down (monitor/quorum.py)
