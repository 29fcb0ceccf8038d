"""Flap detection, Nagios-style: the weighted share of state changes among the last N observations.

Nagios keeps the last 21 states, counts the changes between neighbours, weights recent changes
more (0.8 for the oldest to 1.2 for the newest) and calls the object flapping above a high
threshold, and stable again below a low one. The gap between the two is the hysteresis.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FlapSettings:
    samples: int = 21  # observations kept
    high: float = 50.0  # percent: start flapping above this
    low: float = 25.0  # percent: stop flapping below this
    min_samples: int = 6  # observations before the first judgement
    reopen_within: float = 300.0  # seconds: down again this soon after recovering is the same incident


def percent_state_change(states: list[str] | tuple[str, ...]) -> float:
    """Weighted percentage (0..100) of changes between consecutive states."""
    pairs = len(states) - 1
    if pairs < 1:
        return 0.0
    weights = [0.8 + 0.4 * i / max(1, pairs - 1) for i in range(pairs)]
    changed = sum(w for w, a, b in zip(weights, states, states[1:]) if a != b)
    return 100.0 * changed / sum(weights)


@dataclass(slots=True)
class FlapDetector:
    """Tracks one channel's recent raw states and whether it is flapping."""

    settings: FlapSettings = FlapSettings()
    history: deque[str] = field(default_factory=deque)
    flapping: bool = False
    _same: int = 0  # how many of the latest observations are the same state

    def observe(self, state: str) -> bool | None:
        """Add an observation; return True/False when flapping starts/stops, None otherwise."""
        history = self.history
        self._same = self._same + 1 if history and history[-1] == state else 1
        history.append(state)
        while len(history) > self.settings.samples:
            history.popleft()
        if len(history) < self.settings.min_samples:
            return None  # too few samples to judge
        if not self.flapping and self._same >= len(history):
            return None  # no change in the whole history (a steady channel, nearly every result): 0 % changed
        change = percent_state_change(tuple(self.history))
        if not self.flapping and change > self.settings.high:
            self.flapping = True
            return True
        if self.flapping and change < self.settings.low:
            self.flapping = False
            return False
        return None
