"""The notifier interface: alerts, the batches they are sent in, and how delivery fails.

An Alert is one event in a person's words (a channel went down, recovered, failover moved a
promotion...). The router (alerts/router.py) stores alerts in a durable outbox, groups those that
happen close together into a Batch per destination, and hands each Batch to a Notifier, together
with the Thread of an earlier message about the same incidents when the notifier can update
messages in place (Slack with a bot token, e-mail replies). Payload builders are pure functions of
(Batch, Thread); the notifier only does I/O.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from alerts.events import EVENTS, FAILOVER_EVENTS, Severity
from monitor.core.http import USER_AGENT
from probes.guard import ALLOW_NOTHING, NetworkGuard
from probes.session import create_outbound_session


@dataclass(frozen=True, slots=True)
class Alert:
    """A channel state change or another event, in the words a person needs."""

    channel: str
    channel_name: str
    old_state: str
    new_state: str
    at: float
    cause: Mapping[str, str | None] = field(default_factory=dict)
    down_for: float | None = None  # set on recovery: how long the channel was down
    event: str = "state"  # one of alerts.events.EVENTS
    detail: str = ""
    flapping: bool = False  # a state change of a flapping channel: one flapping alert covers it
    # The incident this alert belongs to, so later alerts about it update the same message:
    # "down:<channel>:<outage start>", "connectivity:<start>", "failover:<owner>", or "" (none).
    key: str = ""
    group: str = ""  # the channel's group (own_shop, marketplace...), for routing
    tags: tuple[str, ...] = ()  # the channel's tags, for routing
    id: int = 0  # the outbox row, once stored

    @property
    def severity(self) -> Severity:
        """critical: something is down or stuck; warning: needs a look; info: good news or FYI."""
        kind = EVENTS.get(self.event)
        if kind is not None and kind.severity is not None:
            return kind.severity
        if self.event == "state" and self.new_state == "down":
            return "critical"
        return "warning" if self.event == "state" and self.new_state == "degraded" else "info"

    @property
    def summary(self) -> str:
        """One line: 'Allegro (allegro): up -> down: home http_status: HTTP 503'."""
        if self.event in ("connectivity_lost", "connectivity_restored"):
            what = "lost its own connectivity; channel states are frozen" if self.event == "connectivity_lost" else "is connected again"
            return f"The monitor {what}: {self.detail}"
        if self.event in ("overload_started", "overload_ended"):
            what = "is overloaded; failures do not count" if self.event == "overload_started" else "keeps up again"
            return f"The monitor {what}: {self.detail}"
        if self.event in FAILOVER_EVENTS:
            return f"{FAILOVER_EVENTS[self.event]}: {self.channel_name} ({self.channel}): {self.detail}"
        if self.event == "reminder":
            return f"Still down: {self.channel_name} ({self.channel}) for {human_duration(self.down_for or 0)}"
        if self.event in ("notifier_failing", "notifier_recovered"):
            return self.detail
        if self.event != "state":
            verb = "is flapping" if self.event == "flapping_started" else "stopped flapping"
            return f"{self.channel_name} ({self.channel}) {verb}: {self.detail}"
        text = f"{self.channel_name} ({self.channel}): {self.old_state} -> {self.new_state}"
        if self.cause.get("error_class"):
            text += f": {self.cause.get('check')} {self.cause['error_class']}: {self.cause.get('error')}"
        elif self.cause.get("maintenance"):
            text += f": maintenance: {self.cause['maintenance']}"
        elif self.cause.get("override_by"):
            text += f": set by {self.cause['override_by']}: {self.cause.get('reason')}"
        if self.down_for is not None:
            text += f" (down for {human_duration(self.down_for)})"
        return text


@dataclass(frozen=True, slots=True)
class Batch:
    """Alerts sent together as one message to one destination (oldest first)."""

    alerts: tuple[Alert, ...]
    destination: str
    status_url: str | None = None  # the status page, for links


@dataclass(frozen=True, slots=True)
class Thread:
    """An earlier message about the same incidents: update it, reply under it."""

    ref: str  # the notifier's reference, e.g. "C0123|1700000000.000100" for Slack
    alerts: tuple[Alert, ...]  # every alert the message has covered so far, oldest first


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a notifier reports back: the message's reference, when it can be updated or replied to later."""

    ref: str | None = None


class NotifyError(Exception):
    """A delivery failed. permanent=True: retrying cannot help (bad token, deleted channel).

    retry_after: seconds the receiver asked us to wait (HTTP 429 Retry-After), if it said.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Notifier(ABC):
    """Delivers alerts somewhere. One file per kind, registered in alerts.NOTIFIERS."""

    id: str = ""
    threads: bool = False  # True: send() may get a Thread and returns a ref to thread later alerts on
    # Configured values never to be shown (monitor.core.redact.secret_values of its options; set where it is built):
    # the router scrubs them from every error the notifier reports, whatever a receiver echoed.
    secrets: tuple[str, ...] = ()

    def wants(self, alert: Alert) -> bool:
        """Skip what a person need not hear: first sightings (unknown -> up), maintenance beginning
        and ending, and each change of a flapping channel (its one flapping alert covers them)."""
        if alert.event != "state":
            return True
        quiet = {("unknown", "up"), ("up", "maintenance"), ("maintenance", "up"), ("unknown", "maintenance")}
        if alert.down_for is not None:
            return not alert.flapping  # a recovery, even one that ends a maintenance window, is news
        return not alert.flapping and (alert.old_state, alert.new_state) not in quiet

    @abstractmethod
    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        """Deliver one batch; raise NotifyError on failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook: most notifiers hold nothing to release
        """Release connections (called once at shutdown)."""


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


class NotifierConfig(BaseModel):
    """Base of every notifier kind's options; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class NotifierContext:
    """What a notifier gets when it is built: a logger, a wall-clock (Unix seconds) clock, and the outbound HTTP
    session (probes/session.py create_outbound_session: behind the network guard, no redirects). Without one
    (a notifier built on its own), the notifier makes such a session with `guard` on first use."""

    log: logging.Logger | logging.LoggerAdapter
    clock: Callable[[], float] = time.time
    http: aiohttp.ClientSession | None = None
    guard: NetworkGuard = ALLOW_NOTHING

    def session(self, owned: list[aiohttp.ClientSession]) -> aiohttp.ClientSession:
        """The shared outbound session, or one of the notifier's own (kept in `owned`, to be closed by it)."""
        if self.http is not None:
            return self.http
        if not owned or owned[0].closed:
            owned[:] = [create_outbound_session(USER_AGENT, self.guard)]
        return owned[0]


@dataclass(frozen=True, slots=True)
class NotifierKind:
    """A notifier kind: its options model and how to build one (id, options, context) -> Notifier."""

    config: type[NotifierConfig]
    build: Callable[[str, Any, NotifierContext], Notifier]
    description: str = ""


def family(event: str) -> str:
    """Events that replace each other in a message: a recovery replaces the outage, 'stopped' the 'started'."""
    kind = EVENTS.get(event)
    return kind.family if kind is not None else event


def current(alerts: Sequence[Alert]) -> list[Alert]:
    """What a message shows now: the newest alert per channel and kind of event, in first-seen order."""
    latest: dict[tuple[str, str], Alert] = {}
    for alert in alerts:
        latest[(family(alert.event), alert.channel)] = alert  # an existing key keeps its place
    return list(latest.values())
