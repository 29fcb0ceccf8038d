"""Reading a growing table by id without missing a row: the cursor and the gaps behind it. Pure.

Several probers insert results concurrently, each in its own transaction. Ids come from one sequence, but a
transaction that took id 100 may commit after another that took 101: a reader that saw 101 and moved its
cursor past 100 would never see 100. So the reader remembers the ids it jumped over (the gaps) and asks for
them again with the next reads, until they show up or are old enough (GAP_SECONDS) to have been rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

GAP_SECONDS = 10.0  # a gap still empty after this long was a rolled-back insert, not a slow commit
MAX_GAPS = 1000  # ranges kept at most (the oldest are dropped first): bounds the query


@dataclass(slots=True)
class Tail:
    """The highest id read, and the ranges of ids below it not seen yet (with when each was first missed)."""

    after: int = 0
    gaps: list[tuple[int, int, float]] = field(default_factory=list)  # (first, last, noticed at)

    def ranges(self) -> list[tuple[int, int]]:
        """The id ranges to ask for again, besides every id above `after`."""
        return [(first, last) for first, last, _ in self.gaps]

    def saw(self, ids: Iterable[int], now: float) -> None:
        """Ids just read (any order): fill the gaps they were in, and open new gaps for the ids skipped."""
        new = sorted(set(ids))
        if not new:
            self._expire(now)
            return
        seen = set(new)
        gaps: list[tuple[int, int, float]] = []
        for first, last, noticed in self.gaps:  # split each gap around the ids that arrived in it
            start = first
            for i in range(first, last + 1) if last - first < 4096 else ():
                if i in seen:
                    if start < i:
                        gaps.append((start, i - 1, noticed))
                    start = i + 1
            if last - first >= 4096:  # a wide gap: only trim what arrived at its ends
                while start in seen:
                    start += 1
                end = last
                while end in seen and end >= start:
                    end -= 1
                if start <= end:
                    gaps.append((start, end, noticed))
            elif start <= last:
                gaps.append((start, last, noticed))
        expected = self.after + 1
        for i in new:
            if i < expected:
                continue
            if i > expected:
                gaps.append((expected, i - 1, now))
            expected = i + 1
        self.after = max(self.after, new[-1])
        self.gaps = gaps
        self._expire(now)

    def _expire(self, now: float) -> None:
        self.gaps = [g for g in self.gaps if now - g[2] < GAP_SECONDS][-MAX_GAPS:]
