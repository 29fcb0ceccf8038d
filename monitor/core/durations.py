"""Durations written the Prometheus way: 500ms, 30s, 5m, 1h, 1d (or a plain number of seconds)."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
HINT = "write a number with a unit: 500ms, 30s, 5m, 1h or 1d"
MAX_SECONDS = 3650 * 86400.0


def parse_duration(value: object) -> float:
    """Return the duration in seconds; raise ValueError naming the bad value."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; {HINT}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration; {HINT}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{value!r} is longer than the longest duration allowed (3650d); {HINT}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds back in the shortest unit that is exact (30.0 -> '30s')."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        if seconds >= _UNITS[unit] and (seconds / _UNITS[unit]).is_integer():
            return f"{int(seconds / _UNITS[unit])}{unit}"
    return f"{round(seconds * 1000)}ms"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


def parse_delay(value: object) -> float:
    """Like parse_duration, but 0 (or 0s) is allowed: "at once"."""
    if isinstance(value, bool):
        return parse_duration(value)  # refused there, with the hint
    match = _PATTERN.match(value) if isinstance(value, str) else None
    if value == 0 or (match is not None and float(match.group(1)) == 0):
        return 0.0
    return parse_duration(value)


Delay = Annotated[float, BeforeValidator(parse_delay), PlainSerializer(format_duration)]
