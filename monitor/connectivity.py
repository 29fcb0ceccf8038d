""" "Is it us?": decide whether the monitor's own network is down, so no channel is declared dead for it.

Two signals, either one is enough: every control target (public resolvers, a CDN: things that are
never all down at once) has failed its last few results, or more than a configured share of the
channels are failing at the same moment. The second one works with no control targets at all, and
it is measured on each channel's latest result, so it fires a cycle or two before any channel
could reach its fail threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ConnectivityGuard:
    """Tracks latest results incrementally (O(1) per result) and says when connectivity is lost."""

    max_failing_share: float = 0.75
    min_channels: int = 3
    control_fail_threshold: int = 2
    failing: set[str] = field(default_factory=set)  # channels whose latest results say down
    reporting: set[str] = field(default_factory=set)  # channels with at least one result
    failing_checks: dict[str, set[str]] = field(default_factory=dict)  # channel -> checks whose latest result failed
    control_fails: dict[str, int] = field(default_factory=dict)  # control check -> consecutive failures
    lost: bool = False
    reason: str = ""

    def channel_result(self, channel: str, check: str, failed: bool, needed: int = 1, excluded: bool = False) -> bool | None:
        """Count one check result; return True/False when connectivity is lost/restored, else None.

        A channel counts as failing when `needed` of its checks' latest results failed (down, after
        degrade-only rules). A channel in maintenance or under an override is left out entirely.
        """
        checks = self.failing_checks.setdefault(channel, set())
        (checks.add if failed else checks.discard)(check)
        if excluded:
            self.reporting.discard(channel)
            self.failing.discard(channel)
        else:
            self.reporting.add(channel)
            (self.failing.add if len(checks) >= needed else self.failing.discard)(channel)
        return self._update()

    def control_result(self, check: str, ok: bool) -> bool | None:
        """Count a control target's result; return True/False on a change, else None."""
        self.control_fails[check] = 0 if ok else self.control_fails.get(check, 0) + 1
        return self._update()

    def _update(self) -> bool | None:
        reason = self._why()
        if bool(reason) == self.lost:
            if reason:
                self.reason = reason
            return None
        self.lost, self.reason = bool(reason), reason
        return self.lost

    def _why(self) -> str:
        if self.control_fails and all(n >= self.control_fail_threshold for n in self.control_fails.values()):
            return f"all {len(self.control_fails)} control targets are failing"
        reporting = len(self.reporting)
        if reporting >= self.min_channels and len(self.failing) / reporting > self.max_failing_share:
            return f"{len(self.failing)} of {reporting} channels are failing at once"
        return ""
