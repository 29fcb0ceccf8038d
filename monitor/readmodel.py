"""The web layer's read model, admin actions and demo controls over the running monitor.

The one place that reads the monitor's components for the web (monitor/web/read_model.py says what it
may ask): handlers never see the monitor itself. Anything read from storage runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from monitor.check_spec import CheckSpec
from monitor.config import Config
from monitor.core.http import USER_AGENT
from monitor.demo import DEMO_CHANNELS, MODES, DemoWorld
from monitor.failover import report
from monitor.failover.engine import MAX_PLAN_ID, NoSuchPlan
from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.quorum import Vote
from monitor.running import Monitor
from monitor.store import queries, slack_clicks
from monitor.store.models import IncidentRow
from monitor.store.persist import load_windows
from monitor.store.results import recent_results
from monitor.web.read_model import (
    Approved,
    ChannelInfo,
    ChannelStatus,
    CheckInfo,
    Connectivity,
    Day,
    Health,
    Incident,
    LatencyPoint,
    LatestResult,
    PlanRef,
    SlackApprovals,
    UnknownPlan,
    Uptime,
    WebSettings,
)
from probes import PROBES
from probes.base import ProbeKind
from probes.guard import NetworkGuard
from probes.session import create_outbound_session

log = logging.getLogger("monitor.admin")


def web_settings(config: Config) -> WebSettings:
    """The settings the handlers obey, from the config."""
    return WebSettings(
        admin_token=config.admin_token.get_secret_value() if config.admin_token else None,
        show_failover=config.show_failover,
        status_url=config.alerts.status_url,
    )


def _check_info(check: CheckSpec, kind: ProbeKind | None) -> CheckInfo:
    return CheckInfo(check.id, check.kind, check.interval_seconds, kind.latency if kind is not None else False)


def _incident(row: IncidentRow) -> Incident:
    return Incident(row.id or 0, row.channel, row.started_at, row.ended_at, row.cause)


class MonitorReadModel:
    """ReadModel and AdminActions over the monitor's components (read when asked: they start with the app)."""

    def __init__(self, monitor: Monitor, probes: Mapping[str, ProbeKind] = PROBES) -> None:
        self.m = monitor
        self._channels = {
            c.id: ChannelInfo(c.id, c.name, c.group, tuple(_check_info(k, probes.get(k.kind)) for k in c.checks))
            for c in monitor.config.channels
        }

    # -------------------------------------------------------------------------------- from memory

    @property
    def started_at(self) -> float:
        return self.m.started_at

    def now(self) -> float:
        return self.m.clock()

    def channels(self) -> Mapping[str, ChannelInfo]:
        return self._channels

    def status(self, channel: str) -> ChannelStatus:
        h = self.m.book.health.get(channel)
        return ChannelStatus(h.state, h.since, h.cause, h.flap.flapping) if h is not None else ChannelStatus()

    def check_state(self, channel: str, check: str) -> State:
        h = self.m.book.health.get(channel)
        return h.checks[check].state if h is not None and check in h.checks else State.UNKNOWN

    def latest(self, channel: str, check: str) -> LatestResult | None:
        role = self.m.config.role
        if role == "decide":  # its results come from the probers, read back from the database
            return self.m.decider.latest.get((channel, check))
        if role == "web":
            return self.m.mirror.latest.get((channel, check))
        return self.m.pipeline.latest.get((channel, check))

    def locations(self, channel: str, check: str) -> Vote | None:
        role = self.m.config.role
        if role == "decide":
            return self.m.votes.vote(channel, check)
        if role == "web":
            return self.m.mirror.locations(channel, check)
        return None  # one location: its results are the verdict

    def windows(self) -> Mapping[str, Sequence[Window]]:
        return self.m.book.windows

    def alert_problems(self) -> dict[str, str]:
        if self.m.config.role == "web":  # it sends nothing: the failing deliveries in the database say it
            return self.m.mirror.problems()
        return self.m.alerts.problems

    def connectivity(self) -> Connectivity:
        guard, overload = self.m.book.guard, self.m.book.overload
        return Connectivity(guard.lost, guard.reason, overload.overloaded, overload.reason or None)

    def health(self) -> Health:
        m = self.m
        if m.config.role == "web":  # it writes nothing: its database reads are what can fail
            return Health(m.healthy, False, 0, not m.mirror.fresh)
        scheduler = getattr(m, "scheduler", None)  # a decider (--role decide) probes nothing
        running, in_flight = (scheduler.running, scheduler.in_flight) if scheduler is not None else (False, 0)
        return Health(m.healthy, running, m.writer.depth, m.writer.failing, m.book.overload.overloaded, in_flight)

    def failover_enabled(self) -> bool:
        return self.m.failover.enabled

    def promotion_names(self) -> Mapping[str, str]:
        return {p.id: p.name for p in self.m.failover.promotions.values()}

    def render_metrics(self) -> bytes:
        return self.m.metrics.render()

    # ------------------------------------------------------------------------------- from storage

    async def settle(self) -> None:
        if self.m.config.role != "web":  # a web instance has nothing of its own to write
            await self.m.writer.flush()

    async def uptime(self, now: float) -> Uptime:
        return await asyncio.to_thread(queries.uptime_windows, self.m.engine, now)

    async def daily_history(self, now: float, days: int) -> Mapping[str, list[Day]]:
        return await asyncio.to_thread(queries.daily_history, self.m.engine, now, days)

    async def latency(self, channel: str, since: float, now: float) -> Mapping[str, list[LatencyPoint]]:
        return await asyncio.to_thread(queries.latency_series, self.m.engine, channel, since, now)

    async def incidents(self, limit: int, *, channel: str | None = None, open_only: bool = False) -> list[Incident]:
        rows = await asyncio.to_thread(queries.find_incidents, self.m.engine, limit, channel, open_only)
        return [_incident(r) for r in rows]

    async def open_incidents(self) -> list[Incident]:
        return [_incident(r) for r in await asyncio.to_thread(queries.open_incidents, self.m.engine)]

    async def incident_page(self, page: int, per_page: int) -> tuple[list[Incident], int]:
        rows, total = await asyncio.to_thread(queries.incident_page, self.m.engine, page, per_page)
        return [_incident(r) for r in rows], total

    async def plans_for_incidents(self, incidents: Sequence[Incident], now: float) -> Mapping[int, list[PlanRef]]:
        return await asyncio.to_thread(queries.plans_for_incidents, self.m.engine, list(incidents), now)  # type: ignore[arg-type]

    async def results(self, channel: str, check: str | None, limit: int, before: float | None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(recent_results, self.m.engine, channel, check, limit, before)

    async def failover_summary(self, plans: int = 20) -> dict[str, Any]:
        return await asyncio.to_thread(report.failover_summary, self.m.failover, plans=plans)

    # ---------------------------------------------------------------------------- admin actions

    async def set_override(self, channel: str, override: Override | None) -> None:
        if self.m.config.role == "web":  # through the decider (monitor/commands.py)
            return await self.m.remote.set_override(channel, override)
        await self.m.admin.set_override(channel, override)

    async def add_window(self, channel: str, window: Window) -> int:
        if self.m.config.role == "web":
            return await self.m.remote.add_window(channel, window)
        return await self.m.admin.add_window(channel, window)

    async def remove_window(self, channel: str, window_id: int) -> bool:
        if self.m.config.role == "web":
            return await self.m.remote.remove_window(channel, window_id)
        return await self.m.admin.remove_window(channel, window_id)

    async def maintenance_windows(self, channel: str) -> list[Window]:
        now = self.m.clock()
        stored = (await asyncio.to_thread(load_windows, self.m.engine, now)).get(channel, [])
        configured = [
            w for w in (m.window() for m in self.m.book.channels[channel].maintenance) if w.cron is not None or (w.end or 0) > now
        ]
        return configured + stored

    async def approve_plan(self, plan_id: int, by: str) -> Approved:
        if not 0 < plan_id < MAX_PLAN_ID:  # no database stores such an id (and some would fail to compare it)
            raise UnknownPlan(f"there is no plan {plan_id}")
        if self.m.config.role == "web":
            return await self.m.remote.approve_plan(plan_id, by)
        try:
            draft = await self.m.stepper.approve(plan_id, by)
        except NoSuchPlan as exc:
            raise UnknownPlan(str(exc)) from exc
        return Approved(draft.owner, draft.after)

    async def reject_plan(self, plan_id: int, by: str) -> tuple[str, str]:
        if not 0 < plan_id < MAX_PLAN_ID:
            raise UnknownPlan(f"there is no plan {plan_id}")
        if self.m.config.role == "web":
            return await self.m.remote.reject_plan(plan_id, by)
        try:
            draft = await self.m.stepper.reject(plan_id, by)
        except NoSuchPlan as exc:
            raise UnknownPlan(str(exc)) from exc
        return draft.owner

    async def set_frozen(self, owner: tuple[str, str], frozen: bool, by: str, reason: str) -> None:
        if self.m.config.role == "web":
            return await self.m.remote.set_frozen(owner, frozen, by, reason)
        await self.m.stepper.set_frozen(owner, frozen, by, reason)

    # ----------------------------------------------------------------------------- Slack buttons

    def _slack(self) -> Any:
        """The slack notifier whose buttons can be clicked (the first with a signing_secret), or None."""
        return next(
            (n.options for n in self.m.config.alerts.notifiers if n.kind == "slack" and getattr(n.options, "signing_secret", None)),
            None,
        )

    def slack_approvals(self) -> SlackApprovals | None:
        slack = self._slack()
        if slack is None:
            return None
        return SlackApprovals(slack.signing_secret.get_secret_value(), tuple(slack.approvers))

    async def first_click(self, key: str) -> bool:
        return await asyncio.to_thread(slack_clicks.first, self.m.engine, key, self.m.clock())

    async def slack_group_members(self, group: str) -> set[str]:
        slack = self._slack()
        if slack is None or slack.token is None:
            return set()
        try:
            async with self._slack_session() as http:
                client = AsyncWebClient(
                    token=slack.token.get_secret_value(), base_url=slack.base_url, session=http, timeout=int(slack.timeout)
                )
                answer = await client.usergroups_users_list(usergroup=group)
        except Exception as exc:  # Slack away, or the bot lacks usergroups:read: nobody is let in through this group
            log.warning("cannot read the members of Slack user group %s (%s); add the scope usergroups:read", group, type(exc).__name__)
            return set()
        return set(answer.get("users") or [])

    async def slack_respond(self, url: str, payload: dict[str, Any]) -> None:
        async with self._slack_session() as http:
            async with http.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=10), allow_redirects=False) as resp:
                await resp.read()

    def _slack_session(self) -> aiohttp.ClientSession:
        """Through the network guard like every outbound request (a click is rare: a session of its own)."""
        return create_outbound_session(USER_AGENT, NetworkGuard(self.m.config.allow_networks))

    def notifier_details(self) -> dict[str, dict[str, Any]]:
        if self.m.config.role == "web":
            return dict(self.m.mirror.problem_details())
        return self.m.alerts.problem_details()


class DemoView:
    """DemoControls over the demo's simulated world."""

    modes_allowed: Sequence[str] = MODES
    names: Mapping[str, str] = {c.id: c.name for c in DEMO_CHANNELS}

    def __init__(self, world: DemoWorld) -> None:
        self.world = world

    @property
    def modes(self) -> Mapping[str, str]:
        return self.world.modes

    @property
    def replay_until(self) -> float | None:
        return self.world.replay_until

    async def set_mode(self, channel: str, mode: Any) -> None:
        await self.world.set_mode(channel, mode)

    async def replay_2021(self, minutes: float) -> float:
        return await self.world.replay_2021(minutes)
