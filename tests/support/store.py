"""Rows written straight into the store, for the tests of what is read back from it."""

from __future__ import annotations


def rollup(period: str, channel: str, check: str, bucket: int, **values) -> dict:
    """A rollup row (hour or day) with every count 0 and no latency, but for `values`."""
    row = {
        "period": period,
        "channel": channel,
        "check": check,
        "bucket_start": bucket,
        "n_up": 0,
        "n_degraded": 0,
        "n_down": 0,
        "n_maintenance": 0,
        "n_unknown": 0,
        "latency_count": 0,
        "latency_sum_us": 0,
        "latency_min": None,
        "latency_max": None,
        "latency_p95": None,
    }
    return row | values
