"""The relay: sends stored actions to their actuators, at least once, in order per promotion and channel.

Actions are rows (failover_actions) written with the plan that caused them. The relay claims due
rows (pending -> sending, compare-and-set, so a second relay cannot take the same row), sends each
group of actions for one (promotion or notice, channel) in id order, and records every outcome:

    applied   done; the target's applied value is updated
    retry     back to pending with exponential backoff (1 s doubling to 5 min, or the API's Retry-After);
              later actions of the same group wait behind it, other groups go ahead
    failed    permanent (bad credentials, unknown object): left for a human, alerted
    conflict  changed outside the service: nothing written, the promotion is frozen, alerted

A crash after a receiver acknowledged but before the outcome was stored sends the action again with
the same idempotency key: receivers dedupe on it. Rows left in "sending" by a crash are released at start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Engine

from monitor.core.money import money
from monitor.core.redact import scrub, secret_values
from monitor.failover.actions import OPS, Action, ActionResult, ActuatorContext, ActuatorKind
from monitor.failover.engine import NOTICE, PROMOTION, FailoverEngine, Owner, OwnerStatus
from monitor.outbox import OutboxLoop
from monitor.store import failover_actions as action_store
from monitor.store.models import FailoverActionRow

log = logging.getLogger("monitor.failover")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 300.0
# How long a relay's claim on the actions it sends lasts; renewed every CLAIM_RENEW seconds while it sends, so a
# live relay keeps its rows however long an actuator takes, and the rows of a relay that died (SIGKILL, a lost
# machine) are taken over by another relay within CLAIM_LEASE and sent again with the same idempotency keys.
CLAIM_LEASE = 15.0
CLAIM_RENEW = 5.0
WARN_AFTER_ATTEMPTS = 5  # alert a human once an action has failed this many times in a row
# The relay sleeps until the next retry is due or it is woken (after a plan or an approval is stored):
# monitor/outbox.py's loop, shared with the alert router.


# What a validate-only answer says about a dry-run action (kept as its last_error: see ActionRelay._rehearse).
REHEARSAL = {"applied": "would be accepted", "failed": "would be refused", "conflict": "would conflict", "retry": "could not be checked"}


def backoff(attempts: int) -> float:
    """Seconds to wait after the n-th failed attempt: 1, 2, 4 ... up to 5 minutes."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))


Group = tuple[str, str, str]  # (owner kind, owner, channel): one queue, sent in id order


def due_heads(rows: list[Any], now: float) -> tuple[dict[Group, list[Any]], float | None]:
    """Split pending and sending rows (in id order) into each queue's due actions at its head, and the
    earliest time a queue waiting for a retry may go on (None: no queue waits for one).

    A queue whose head is "sending" has no time: in this process the round that sent it records the
    outcome and looks again (or, when recording failed, the next round sends it again); another process's
    sends are covered by the outbox loop's IDLE_RECHECK.
    """
    heads: dict[Group, list[Any]] = defaultdict(list)
    blocked: set[Group] = set()
    retry_at: float | None = None
    for r in rows:
        group = (r.owner_kind, r.owner, r.channel)
        if group in blocked:
            continue
        if r.status == "sending" or r.next_at > now:
            blocked.add(group)  # in flight or waiting to retry: what comes after it waits too
            if r.status == "pending":
                retry_at = r.next_at if retry_at is None else min(retry_at, r.next_at)
            continue
        heads[group].append(r)
    return heads, retry_at


class ActionRelay:
    """Drain failover_actions through the actuators, from one background task."""

    def __init__(
        self,
        failover: FailoverEngine,
        actuators: Mapping[str, tuple[ActuatorKind, Any]],
        ctx: ActuatorContext,
        clock: Callable[[], float],
        on_event: Callable[[str, Owner, str, str], None] = lambda *a: None,
        on_outcome: Callable[[str, str, float], None] = lambda *a: None,
        *,
        holder: str = "local",
    ) -> None:
        self.failover = failover
        # Several relays may drain one database: each claims the rows it sends, under its name, for CLAIM_LEASE.
        # A single process (`--role all`) is the only relay of its database: its stable name lets a restart
        # release its own claims at once, even after a SIGKILL.
        self.holder = holder
        self.engine: Engine = failover.engine
        self.actuators = actuators
        # Configured values never to be shown (tokens, signing secrets, header values, URL paths): scrubbed from
        # whatever an actuator reports, since receivers may echo what they were sent.
        self._secrets = {name: secret_values(options) for name, (_kind, options) in actuators.items()}
        self.ctx = ctx
        self.clock = clock
        self.on_event = on_event
        self.on_outcome = on_outcome  # (actuator, outcome, seconds) for metrics
        self._release = False  # a failed round: release its claims before the next one
        self.loop = OutboxLoop("failover-relay", self._round, clock, on_error=self._failed_round, pause_on_error=True)
        self._reasons: dict[int, dict[str, Any]] = {}  # plan id -> what receivers are told about why
        # plan id -> the key of the outage it belongs to: an action's alerts go to that incident's thread,
        # even after the episode ended (a failback action that keeps failing).
        self._keys: dict[int, str] = {}

    def wake(self) -> None:
        self.loop.wake()

    async def start(self) -> None:
        await asyncio.to_thread(self._release_claims)
        self.loop.start()  # its first round at once: rows released above, or due while we were down

    async def stop(self, grace: float = 5.0) -> None:
        """Let the round in progress finish (at most `grace` seconds), then stop.

        A send cut off by the deadline stays "sending" and is sent again, with the same key, at the next start.
        """
        await self.loop.stop(grace)

    async def _round(self) -> float | None:
        # Another relay that died: its claims ran out, and its rows are sent again (with the same keys).
        await asyncio.to_thread(action_store.release_sending, self.engine, "", self.clock())
        await self._rehearse()
        if self._release:
            # A failed round may have left claimed rows "sending" whose outcome was never stored (the database
            # failed while recording it): no send of ours is in flight now (drain waits for all), so send them
            # again with the same key, as after a crash.
            await asyncio.to_thread(self._release_claims)
            self._release = False
        return await self.drain()

    async def _rehearse(self) -> None:
        """A dry-run plan's actions, asked once of the actuators that have a validate-only mode (google_ads): would
        the channel accept them now? The answer is kept on the action (it stays dry_run; nothing is changed)."""
        checkable = [name for name, (kind, _options) in self.actuators.items() if kind.validate is not None]
        for row in await asyncio.to_thread(action_store.unrehearsed, self.engine, checkable):
            kind, options = self.actuators[row.actuator]
            assert kind.validate is not None
            try:
                result = await kind.validate(to_action(row, self.failover), options, self.ctx)
            except Exception as exc:  # an actuator bug must not stop the relay
                log.exception("actuator %s crashed validating action %s", row.actuator, row.id)
                result = ActionResult.retry(f"actuator error: {type(exc).__name__}")
            verdict = REHEARSAL[result.outcome]
            detail = scrub(f"{verdict}: {result.detail}", self._secrets.get(row.actuator, ()))
            await asyncio.to_thread(action_store.rehearsed, self.engine, row.id or 0, detail)

    def _failed_round(self) -> None:
        self._release = True

    async def drain(self) -> float | None:
        """Send every due action once; return when to look again (None: only when woken).

        After sending, that is now: an outcome may have released the rest of a queue or rescheduled
        a retry, and the next round reads that. Otherwise it is the earliest retry time seen.
        """
        groups, retry_at = await asyncio.to_thread(self._claim, self.clock())
        if not groups:
            return retry_at
        # Wait for every group, even when one fails: a send left running past the round would finish
        # with nobody looking again for what its outcome made due.
        renew = asyncio.create_task(self._renew_claims(), name="relay-claims")
        try:
            results = await asyncio.gather(*(self._send_group(rows) for rows in groups), return_exceptions=True)
        finally:
            renew.cancel()
            await asyncio.gather(renew, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.clock()

    async def _renew_claims(self) -> None:
        while True:
            await asyncio.sleep(CLAIM_RENEW)
            try:
                await asyncio.to_thread(action_store.renew_claims, self.engine, self.holder, self.clock() + CLAIM_LEASE)
            except Exception as exc:  # the database is away: the sends go on; their outcomes will be stored or re-sent
                log.warning("relay %s: could not renew its claims (%s)", self.holder, exc)

    def _release_claims(self) -> None:
        """Rows left "sending" by a crash (ours, or a relay's whose claims ran out) may have reached the receiver:
        count that attempt, send again with the same key."""
        action_store.release_sending(self.engine, self.holder, self.clock())

    def _claim(self, now: float) -> tuple[list[list[FailoverActionRow]], float | None]:
        """Claim, per (owner, channel), the due actions at the head of its queue; also return the
        earliest retry time of the queues that wait (see due_heads)."""
        heads, retry_at = due_heads(action_store.open_actions(self.engine), now)
        plan_ids = {r.plan_id for rows_ in heads.values() for r in rows_}
        if len(self._reasons) > 10_000:
            self._reasons.clear()  # a cache: refilled below for what is being sent now
            self._keys.clear()
        if plan_ids:
            for plan_id, stored in action_store.plan_reasons(self.engine, plan_ids).items():
                self._reasons[plan_id] = {"plan": plan_id, "failed": stored.get("failed", [])}
                self._keys[plan_id] = stored.get("key") or ""
        return action_store.claim_actions(self.engine, heads.values(), self.holder, now + CLAIM_LEASE), retry_at

    async def _send_group(self, rows: list[FailoverActionRow]) -> int:
        sent = 0
        for i, row in enumerate(rows):
            started = time.perf_counter()
            result = await self._attempt(row)
            seconds = time.perf_counter() - started
            sent += 1
            await asyncio.to_thread(self._record, row, result, rows[i + 1 :] if result.outcome != "applied" else [])
            if row.actuator in self.actuators:  # (metrics label values come from the config only)
                self.on_outcome(row.actuator, result.outcome, seconds)  # once stored: whoever it wakes reads it
            self._announce(row, result)
            if result.outcome != "applied":
                break  # the rest of the group was released back to pending by _record
        return sent

    async def _attempt(self, row: FailoverActionRow) -> ActionResult:
        entry = self.actuators.get(row.actuator)
        if entry is None:
            return ActionResult.failed(f"actuator {row.actuator!r} is not in the config any more")
        kind, options = entry
        # A backstop for an actuator that hangs despite its own timeout: room for its few requests
        # (meta_ads makes up to three), each bounded by the configured timeout.
        limit = 3 * float(getattr(options, "timeout", 30.0)) + 10.0
        try:
            async with asyncio.timeout(limit):
                result = await kind.apply(to_action(row, self.failover, self._reasons.get(row.plan_id)), options, self.ctx)
        except TimeoutError:
            result = ActionResult.retry(f"no answer within {limit:g}s")
        except Exception as exc:  # an actuator bug must not stop the relay; retried like a failure
            log.exception("actuator %s crashed on action %s", row.actuator, row.id)
            result = ActionResult.retry(f"actuator error: {type(exc).__name__}")
        secrets = self._secrets.get(row.actuator, ())
        if not secrets:
            return result
        response = json.loads(scrub(json.dumps(dict(result.response), default=str), secrets))
        return replace(result, detail=scrub(result.detail, secrets), response=response)

    def _record(self, row: FailoverActionRow, result: ActionResult, release: list[FailoverActionRow]) -> None:
        now = self.clock()
        status: str = result.outcome  # failed or conflict: as it came
        next_at: float | None = None
        applied_at: float | None = None
        if result.outcome == "applied":
            applied_at = now
        elif result.outcome == "retry":
            status, next_at = "pending", now + max(result.retry_after or 0.0, backoff(row.attempts + 1))
        outcome = action_store.ActionOutcome(
            status,
            row.attempts + 1,
            (result.detail or None) and result.detail[:500],
            result.observed,
            json.dumps(dict(result.response), default=str),
            next_at,
            applied_at,
        )
        moved = result.outcome == "applied" and row.op in OPS and OPS[row.op].sets_live
        action_store.record_outcome(
            self.engine,
            row.id,
            outcome,
            [r.id for r in release],
            ((row.owner_kind, row.owner, row.channel), row.value) if moved else None,
            now,
        )
        if result.outcome == "conflict":
            owner = (row.owner_kind, row.owner)
            if owner in self.failover.planned:
                self.failover.set_frozen(
                    owner, True, "monitor", f"conflict on {self.failover.name(row.channel)}: {result.detail}"[:500], now
                )

    def _announce(self, row: FailoverActionRow, result: ActionResult) -> None:
        owner = (row.owner_kind, row.owner)
        what = action_text(row, self.failover)
        key = self._keys.get(row.plan_id, "")
        if result.outcome == "applied":
            log.info(
                "failover action applied: %s %s (%s)",
                owner[1],
                what,
                result.detail or "ok",
                extra={"event": "action", "owner": owner[1], "channel": row.channel, "op": row.op, "key": row.key, "outcome": "applied"},
            )
        elif result.outcome == "retry":
            log.warning("failover action will be retried: %s %s: %s (attempt %d)", owner[1], what, result.detail, row.attempts + 1)
            if row.attempts + 1 == WARN_AFTER_ATTEMPTS:
                self.on_event(
                    "action_retrying", owner, f"{what} still not applied after {WARN_AFTER_ATTEMPTS} attempts: {result.detail}", key
                )
        elif result.outcome == "failed":
            self.on_event("action_failed", owner, f"{what} failed for good: {result.detail}", key)
        else:
            self.on_event(
                "action_conflict",
                owner,
                f"{what} not done: changed outside the service ({result.detail}); promotion frozen until a person unfreezes it",
                key,
            )


def action_text(row: FailoverActionRow, failover: FailoverEngine) -> str:
    """An action for people: 'set Allegro to 1,000.00 PLN via shop-hook', 'pause Facebook Shop via meta'."""
    name = failover.name(row.channel)
    promotion = failover.promotions.get(row.owner) if row.owner_kind == "promotion" else None
    amount = money(row.value, promotion.unit if promotion else "weight") if row.value is not None else ""
    verb = OPS[row.op].verb.format(channel=name, amount=amount) if row.op in OPS else f"{row.op} on {name}"
    return f"{verb} via {row.actuator}"


def to_action(row: FailoverActionRow, failover: FailoverEngine, reason: Mapping[str, Any] | None = None) -> Action:
    """The actuator's view of a stored action; `reason` says which plan and which failed channels caused it."""
    unit = failover.promotions[row.owner].unit if row.owner_kind == PROMOTION and row.owner in failover.promotions else ""
    return Action(
        id=row.id or 0,
        key=row.key,
        op=row.op,  # type: ignore[arg-type]
        promotion=row.owner if row.owner_kind == PROMOTION else None,
        notice=row.owner if row.owner_kind == NOTICE else None,
        channel=row.channel,
        target=row.target,
        value=row.value,
        expect=row.expect,
        text=row.text,
        unit=unit,
        reason=reason or {"plan": row.plan_id},
        attempt=row.attempts + 1,
    )


__all__ = ["ActionRelay", "backoff", "due_heads", "to_action", "OwnerStatus"]
