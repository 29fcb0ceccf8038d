"""What the web layer may know of the monitor: the read model, the admin actions, the demo controls. No I/O.

Handlers read only through these protocols (monitor/readmodel.py adapts the running monitor; tests can
hand in a fake and serve pages with no probe, database or scheduler running). Figures from memory are
plain methods; anything read from storage is awaited (the adapter runs it in a thread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Value types of stored history from monitor.core: the web layer never imports store/ (nor SQLAlchemy).
from monitor.core.history import DAY, HOUR, UPTIME_WINDOWS, Day, LatencyPoint, PlanRef, floor_to
from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.quorum import Vote

__all__ = [
    "DAY",
    "HOUR",
    "UPTIME_WINDOWS",
    "Day",
    "LatencyPoint",
    "PlanRef",
    "floor_to",
    "AdminActions",
    "Approved",
    "ChannelInfo",
    "ChannelStatus",
    "CheckInfo",
    "Connectivity",
    "DemoControls",
    "Health",
    "Incident",
    "LatestResult",
    "ReadModel",
    "Uptime",
    "UnknownPlan",
    "WebSettings",
]

Uptime = Mapping[str, Mapping[str, float | None]]  # channel -> window ("24h", ...) -> share available, or None


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The config the handlers obey: the admin token (None: admin API off), whether failover amounts are
    public, and the public address of the status page (None: each request's own base URL)."""

    admin_token: str | None = None
    show_failover: bool = False
    status_url: str | None = None


@dataclass(frozen=True, slots=True)
class CheckInfo:
    id: str
    kind: str
    interval_seconds: float
    latency: bool = False  # its kind's duration is the channel's latency figure (probes.base.ProbeKind.latency)


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A configured channel, as the pages name and group it."""

    id: str
    name: str
    group: str
    checks: tuple[CheckInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """A channel's state now: since when, why (the stored cause), and whether it is flapping."""

    state: State = State.UNKNOWN
    since: float | None = None
    cause: Mapping[str, Any] = field(default_factory=dict)
    flapping: bool = False


class ProbeOutcome(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def severity(self) -> str: ...
    @property
    def error_class(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def facts(self) -> Mapping[str, Any]: ...


class ConditionOutcome(Protocol):
    def as_json(self) -> dict[str, Any]: ...


class LatestResult(Protocol):
    """A check's last result as the pipeline keeps it (read as is: the overview reads thousands)."""

    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def duration_seconds(self) -> float: ...
    @property
    def result(self) -> ProbeOutcome: ...
    @property
    def conditions(self) -> Sequence[ConditionOutcome]: ...


@dataclass(frozen=True, slots=True)
class Incident:
    """A stored incident; `cause` is the stored JSON text (an unreadable one stays unread, not an error)."""

    id: int
    channel: str
    started_at: float
    ended_at: float | None
    cause: str


@dataclass(frozen=True, slots=True)
class Connectivity:
    """Why the monitor cannot judge channels now: its own network is lost, or it is overloaded."""

    lost: bool = False
    reason: str | None = None
    overloaded: bool = False
    overload_reason: str | None = None

    @property
    def frozen(self) -> bool:
        """Channel states are frozen (and may be stale) and failover moves nothing."""
        return self.lost or self.overloaded


@dataclass(frozen=True, slots=True)
class Health:
    """What /healthz reports: probing and writing work."""

    ok: bool
    scheduler_running: bool
    writer_queue_depth: int
    database_failing: bool
    # Not a failure of the instance (a restart would not help; it still serves and reports): a detail.
    overloaded: bool = False
    probes_in_flight: int = 0


@dataclass(frozen=True, slots=True)
class Approved:
    owner: tuple[str, str]
    after: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SlackApprovals:
    """Buttons on failover messages in Slack: the app's Signing Secret and who may click them."""

    signing_secret: str
    approvers: tuple[str, ...]


class AdminUnavailable(Exception):
    """An admin command could not be carried out now (a web instance found no decider to carry it out): 503."""


class UnknownPlan(LookupError):
    """No plan has that id (a 404; any other LookupError of approve_plan is a conflict)."""


class ReadModel(Protocol):
    """Everything the pages and APIs show."""

    @property
    def started_at(self) -> float: ...
    def now(self) -> float: ...
    def channels(self) -> Mapping[str, ChannelInfo]:
        """Every configured channel, in config order."""

    def status(self, channel: str) -> ChannelStatus: ...
    def check_state(self, channel: str, check: str) -> State: ...
    def latest(self, channel: str, check: str) -> LatestResult | None: ...
    def locations(self, channel: str, check: str) -> Vote | None:
        """Which probing locations see the check failing (--role decide); None with one location."""
        return None

    def slack_approvals(self) -> SlackApprovals | None:
        """The Slack buttons' settings (None: off, no notifier has signing_secret)."""
        return None

    async def first_click(self, key: str) -> bool:
        """Record a Slack click; False when it was seen before (a replay or Slack's retry)."""
        return False

    async def slack_group_members(self, group: str) -> set[str]:
        """The members of a Slack user group (for approvers that name one)."""
        return set()

    async def slack_respond(self, url: str, payload: dict[str, Any]) -> None:
        """Answer a click through its response_url (an ephemeral note, or the message without its buttons)."""

    def windows(self) -> Mapping[str, Sequence[Window]]:
        """The maintenance windows of each channel: configured and added through the admin API."""

    def alert_problems(self) -> dict[str, str]:
        """Notifiers failing, in words fit for a public page."""

    def connectivity(self) -> Connectivity: ...
    def health(self) -> Health: ...
    def failover_enabled(self) -> bool: ...
    def promotion_names(self) -> Mapping[str, str]: ...
    def render_metrics(self) -> bytes:
        """The /metrics text; called on the event loop (the samples change only there)."""

    async def settle(self) -> None:
        """Store the results buffered so far, so that figures read next count them."""

    async def uptime(self, now: float) -> Uptime: ...
    async def daily_history(self, now: float, days: int) -> Mapping[str, list[Day]]: ...
    async def latency(self, channel: str, since: float, now: float) -> Mapping[str, list[LatencyPoint]]: ...
    async def incidents(self, limit: int, *, channel: str | None = None, open_only: bool = False) -> list[Incident]:
        """The latest incidents, newest first."""

    async def open_incidents(self) -> list[Incident]:
        """Incidents not yet closed, oldest first."""

    async def incident_page(self, page: int, per_page: int) -> tuple[list[Incident], int]:
        """One page of every incident (newest first) and how many there are in all."""

    async def plans_for_incidents(self, incidents: Sequence[Incident], now: float) -> Mapping[int, list[PlanRef]]: ...
    async def results(self, channel: str, check: str | None, limit: int, before: float | None) -> list[dict[str, Any]]: ...
    async def failover_summary(self, plans: int = 20) -> dict[str, Any]: ...


class AdminActions(Protocol):
    """What the admin API changes or reveals; each change is stored, then applied."""

    async def set_override(self, channel: str, override: Override | None) -> None: ...
    async def add_window(self, channel: str, window: Window) -> int: ...
    async def remove_window(self, channel: str, window_id: int) -> bool: ...
    async def maintenance_windows(self, channel: str) -> list[Window]:
        """The channel's windows that still matter: configured (recurring or not yet over), then added ones."""

    async def approve_plan(self, plan_id: int, by: str) -> Approved:
        """Raise UnknownPlan, or LookupError for a plan that cannot be approved now."""

    async def reject_plan(self, plan_id: int, by: str) -> tuple[str, str]:
        """Turn down a plan waiting for approval; its owner (UnknownPlan, LookupError: as approve_plan)."""
        ...

    async def set_frozen(self, owner: tuple[str, str], frozen: bool, by: str, reason: str) -> None:
        """Raise LookupError for an unknown promotion or notice."""

    def notifier_details(self) -> dict[str, dict[str, Any]]: ...


class DemoControls(Protocol):
    """The demo's simulated channels (demo mode only)."""

    @property
    def modes(self) -> Mapping[str, str]: ...
    @property
    def modes_allowed(self) -> Sequence[str]: ...
    @property
    def names(self) -> Mapping[str, str]: ...
    @property
    def replay_until(self) -> float | None: ...
    async def set_mode(self, channel: str, mode: Any) -> None:
        """Raise KeyError for an unknown channel, ValueError for an unknown mode."""

    async def replay_2021(self, minutes: float) -> float: ...
