"""Is the monitor itself overloaded? Judged on the runs the scheduler had to skip. Pure.

An overloaded monitor starts probes late or not at all, and a probe that waited on a busy event loop times out
against a shop that answers in 2 ms. Such results say nothing about the channels, so while the monitor is
overloaded the channel book freezes states (as when its own network is lost) and failover moves nothing. It
is over when no run has been skipped for `clear_after` seconds: the monitor recovers by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUCKET = 1.0  # seconds per counting bucket


@dataclass(slots=True)
class _Bucket:
    started: int = 0
    missed: dict[str, int] = field(default_factory=dict)  # why -> skipped runs


@dataclass(slots=True)
class OverloadGuard:
    """Counts started and skipped runs per second over the last `window` seconds."""

    window: float = 10.0
    # Overloaded when at least this many runs were skipped in the window, and more than this share of the
    # runs due in it: one skipped run (a GC pause, a slow disk flush) is noise, a steady share is not.
    min_missed: int = 3
    max_missed_share: float = 0.01
    # ... and in at least this many different seconds of the window: one stall of the event loop (a long
    # garbage collection, a slow disk) skips several runs at once, which is a pause, not an overload.
    min_seconds: int = 3
    clear_after: float = 30.0  # no run skipped for this long: the overload is over
    overloaded: bool = False
    _said: str = ""  # the reason as last worked out: kept through a quiet stretch before clear_after ends it
    since: float | None = None
    last_missed: float | None = None
    _buckets: dict[int, _Bucket] = field(default_factory=dict)  # by second

    def started(self, at: float) -> None:
        self._bucket(at).started += 1

    def missed(self, at: float, why: str) -> bool | None:
        """Count a skipped run; True when this makes the monitor overloaded."""
        bucket = self._bucket(at)
        bucket.missed[why] = bucket.missed.get(why, 0) + 1
        self.last_missed = at
        if self.overloaded:
            return None  # counted; `reason` is worked out when read, not on each of thousands of skips a second
        started, missed = self._totals(at)
        seconds = sum(1 for b in self._buckets.values() if b.missed)
        if missed >= self.min_missed and missed > self.max_missed_share * (started + missed) and seconds >= self.min_seconds:
            self.overloaded, self.since = True, at
            return True
        return None

    @property
    def reason(self) -> str:
        """Why the monitor is overloaded, in words, from the runs in the window now ("" when it is not)."""
        if not self.overloaded:
            return ""
        started = sum(b.started for b in self._buckets.values())
        missed = sum(sum(b.missed.values()) for b in self._buckets.values())
        if missed:
            self._said = self._reason(started, missed)
        return self._said

    def update(self, now: float) -> bool | None:
        """Called every second: False when the overload is over (nothing skipped for clear_after)."""
        self._drop_old(now)
        if not self.overloaded:
            return None
        if self.last_missed is not None and now - self.last_missed < self.clear_after:
            return None
        self.overloaded, self._said = False, ""
        return False

    def _reason(self, started: int, missed: int) -> str:
        reasons: dict[str, int] = {}
        for bucket in self._buckets.values():
            for w, n in bucket.missed.items():
                reasons[w] = reasons.get(w, 0) + n
        why = ", ".join(f"{n} {w}" for w, n in sorted(reasons.items(), key=lambda item: -item[1]))
        return (
            f"{missed} of {started + missed} runs in the last {self.window:g} s could not start on time ({why}): "
            "the monitor has more checks than it can run"
        )

    def _bucket(self, at: float) -> _Bucket:
        second = int(at // BUCKET)
        bucket = self._buckets.get(second)
        if bucket is None:
            self._drop_old(at)
            bucket = self._buckets[second] = _Bucket()
        return bucket

    def _drop_old(self, now: float) -> None:
        oldest = int((now - self.window) // BUCKET)
        for second in [s for s in self._buckets if s <= oldest]:
            del self._buckets[second]

    def _totals(self, now: float) -> tuple[int, int]:
        self._drop_old(now)
        started = sum(b.started for b in self._buckets.values())
        missed = sum(sum(b.missed.values()) for b in self._buckets.values())
        return started, missed
