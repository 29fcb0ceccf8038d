"""Timestamps as the APIs and payloads write them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=4096)  # the same few times (state changes, start) are formatted on every request
def iso_z(epoch: float) -> str:
    """'2026-11-22T14:00:00.000Z': UTC, milliseconds, a Z (Statuspage's and the webhooks' format)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
