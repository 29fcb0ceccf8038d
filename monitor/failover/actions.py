"""The actuator interface: one Action in, one ActionResult out.

An Action carries absolute target values ("set the budget of promotion P on channel C to V", "pause",
"post notice N"), never deltas, so sending it twice does the same as sending it once; its
idempotency key is fixed when the action is planned and reused on every retry. A failure of the
channel's API is data (ActionResult), never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, get_args

import aiohttp
from pydantic import BaseModel, ConfigDict

Op = Literal["set_amount", "pause", "resume", "post_notice", "withdraw_notice"]


@dataclass(frozen=True, slots=True)
class OpInfo:
    """What an op does, in one place: the relay, the audit log and the alerts read it from here."""

    meaning: str
    # Applied, it leaves the action's `value` live on the channel (the figure the "applied" allocation shows);
    # resume restarts what is there and sets nothing.
    sets_live: bool
    verb: str  # for people, with {channel} and {amount} filled in


OPS: dict[str, OpInfo] = {
    "set_amount": OpInfo("the promotion's budget (minor units) or weight becomes `value`", True, "set {channel} to {amount}"),
    "pause": OpInfo("stop the promotion on the channel (its amount is left as it is)", True, "pause {channel}"),
    "resume": OpInfo("restart the promotion on the channel", False, "resume {channel}"),
    "post_notice": OpInfo("publish the customer notice `text` on the channel", True, "post the notice on {channel}"),
    "withdraw_notice": OpInfo("remove the customer notice from the channel", True, "withdraw the notice from {channel}"),
}
assert set(OPS) == set(get_args(Op)), "every op has its OpInfo"


@dataclass(frozen=True, slots=True)
class Action:
    """One change to make on one channel, as planned (and stored) by the reconciler."""

    id: int  # the action's row id
    key: str  # idempotency key: the same on every attempt
    op: Op
    promotion: str | None  # the promotion's id (None for a notice)
    notice: str | None  # the notice's id (None for a promotion action)
    channel: str  # the channel the change is made on
    target: str  # the object on the channel's side (ad set id, page id...); "" when none
    value: int | None = None  # set_amount: the new amount
    expect: int | None = None  # set_amount: the amount we believe is there now (read-back conflict check)
    text: str | None = None  # post_notice: the notice text
    unit: str = ""  # the promotion's unit: a currency code (amounts in minor units) or "weight"
    reason: Mapping[str, Any] = field(default_factory=dict)  # why: incident, failed channels, plan id
    attempt: int = 1  # 1 on the first try


Outcome = Literal["applied", "retry", "failed", "conflict"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What became of one attempt.

    applied: the channel now holds the target value (read back where the API allows it).
    retry: a temporary failure (timeout, 5xx, 429, rate limit); try again after `retry_after` or backoff.
    failed: a permanent failure (bad credentials, unknown object, 4xx): retrying will not help.
    conflict: someone changed the object outside the service (read-back differs from `expect`):
              nothing was written; a human decides.
    """

    outcome: Outcome
    detail: str = ""  # one line for the audit log and alerts (no secrets)
    retry_after: float | None = None  # seconds, when the API said so
    observed: int | None = None  # the value read back (before or after), when known
    response: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"status": 200, "request_id": "..."}

    @classmethod
    def applied(cls, detail: str = "", **kw: Any) -> ActionResult:
        return cls("applied", detail, **kw)

    @classmethod
    def retry(cls, detail: str, **kw: Any) -> ActionResult:
        return cls("retry", detail, **kw)

    @classmethod
    def failed(cls, detail: str, **kw: Any) -> ActionResult:
        return cls("failed", detail, **kw)

    @classmethod
    def conflict(cls, detail: str, **kw: Any) -> ActionResult:
        return cls("conflict", detail, **kw)


class ActuatorConfig(BaseModel):
    """Base of every actuator kind's options; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class ActuatorContext:
    """What an actuator gets besides the action: the shared HTTP session, a logger and a clock."""

    http: aiohttp.ClientSession
    log: logging.Logger | logging.LoggerAdapter
    clock: Callable[[], float]  # wall-clock Unix time: signatures and receivers' replay checks use it
    # What an actuator keeps between actions (e.g. google_ads' access tokens, under keys it names): one per relay.
    cache: dict[str, Any] = field(default_factory=dict)


C = TypeVar("C", bound=ActuatorConfig)
ApplyFn = Callable[[Action, C, ActuatorContext], Awaitable[ActionResult]]


@dataclass(frozen=True, slots=True)
class ActuatorKind(Generic[C]):
    """An actuator kind: its options model and its apply function."""

    config: type[C]
    apply: ApplyFn[C]
    description: str = ""
    # Whether the channel would accept the action now, changing nothing (an API's validate-only mode); None when
    # the kind has no such mode.
    validate: ApplyFn[C] | None = None
