"""Read-outs of a service built with create_app, and the step that makes time pass for it under a FakeClock."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from monitor.running import MONITOR, Monitor
from monitor.store.models import AlertDeliveryRow, AlertRow, IncidentRow, ProbeResultRow

ADMIN_TOKEN = "s3cret-token"
TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # the admin API's header for with_admin_token configs


def with_admin_token(config):
    """The config with the admin API on (token ADMIN_TOKEN)."""
    return config.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


def state(app, channel: str) -> str:
    return app[MONITOR].book.health[channel].state.value


def all_up(app) -> bool:
    return all(h.state.value == "up" for h in app[MONITOR].book.health.values())


def rows(app, model) -> list[Any]:
    """Every stored row of a table model, in id order."""
    with app[MONITOR].engine.connect() as conn:
        return [model.model_validate(r._mapping) for r in conn.execute(select(model).order_by(*model.__table__.primary_key))]


def incidents(app) -> list[IncidentRow]:
    return rows(app, IncidentRow)


def counted_up(app, channel: str) -> int:
    """Stored results of a channel taken while it was up."""
    with app[MONITOR].engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(ProbeResultRow).where(ProbeResultRow.channel == channel, ProbeResultRow.channel_state == "up")
        ).scalar_one()


def alerts_drained(app) -> bool:
    """Every stored alert is routed and every delivery settled (sent, handed on or failed): notifiers have what
    they will get of the alerts stored so far."""
    with app[MONITOR].engine.connect() as conn:
        unrouted = conn.execute(select(func.count()).select_from(AlertRow).where(AlertRow.routed.is_(False))).scalar_one()
        pending = conn.execute(select(func.count()).select_from(AlertDeliveryRow).where(AlertDeliveryRow.status == "pending")).scalar_one()
    return unrouted == 0 and pending == 0


async def failover_step(monitor: Monitor) -> None:
    """Run a failover step now (as a state change or the tick does) and wait until it, and any it chained, is done."""
    monitor.stepper.soon()
    while (task := monitor.stepper._task) is not None and not task.done():
        await asyncio.shield(task)


async def let_time_pass(app, seconds: float) -> None:
    """Move the service's FakeClock on by `seconds` and do what the passing time makes due, as the service would.

    What happened so far is stored first; then the 1 s tick runs once (maintenance windows, overrides,
    reminders, failover timers: hold-down, settle, failback), and the outbox relays are woken so that they
    look again at what fell due (alert grouping windows, retries).
    """
    monitor = app[MONITOR]
    await monitor.writer.flush()
    monitor.clock.advance(seconds)
    monitor.tick.step()
    await failover_step(monitor)
    monitor.alerts.wake()
    monitor.relay.wake()
