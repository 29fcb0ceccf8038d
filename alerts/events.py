"""Every kind of alert event, in one table: how urgent it is, which events replace each other in a message,
and the title a failover event is shown with. Alert.severity, the grouping and the wording all read it, so
a new event is one line here (and its words in templates/wording.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True, slots=True)
class EventKind:
    # critical: something is down or stuck; warning: needs a look; info: good news or FYI. None: it depends on
    # the new state (a state change: down is critical, degraded a warning, the rest info).
    severity: Severity | None
    # Events of one family replace each other in a message (a recovery replaces the outage, "stopped" the
    # "started"), so a thread shows what holds now.
    family: str
    title: str = ""  # failover events: the words before the promotion's or notice's name


EVENTS: dict[str, EventKind] = {
    "state": EventKind(None, "state"),
    "reminder": EventKind("warning", "state"),  # the channel's current state too: a recovery replaces it
    "flapping_started": EventKind("warning", "flapping_"),
    "flapping_stopped": EventKind("info", "flapping_"),
    "connectivity_lost": EventKind("critical", "connectivity_"),
    "connectivity_restored": EventKind("info", "connectivity_"),
    "overload_started": EventKind("critical", "overload_"),
    "overload_ended": EventKind("info", "overload_"),
    "notifier_failing": EventKind("warning", "notifier_"),
    "notifier_recovered": EventKind("info", "notifier_"),
    # Failover events (monitor/failover): the alert's channel fields name the promotion or notice.
    "failover_planned": EventKind("info", "failover", "Failover: moving"),
    "failover_dry_run": EventKind("info", "failover", "Failover (dry-run, nothing applied): would move"),
    "failover_approval_needed": EventKind("warning", "failover", "Failover waits for approval"),
    # A person decided (approved or rejected a plan, froze or unfroze): Slack's buttons for it are taken away.
    "failover_decided": EventKind("info", "failover", "Failover decision"),
    "failover_frozen": EventKind("critical", "failover", "Failover frozen"),
    "failover_held": EventKind("critical", "failover", "Failover cannot move"),
    "action_retrying": EventKind("warning", "failover", "Failover action not applied yet"),
    "action_failed": EventKind("critical", "failover", "Failover action failed"),
    "action_conflict": EventKind("critical", "failover", "Failover conflict"),
}
FAILOVER_EVENTS = {name: kind.title for name, kind in EVENTS.items() if kind.family == "failover"}
