"""Meta Marketing API actuator: set an ad set's or campaign's daily_budget, pause or resume it.

Every change is read, written and read back (Graph API: GET/POST /{object-id}); the access token
travels as the documented `access_token` parameter and never appears in a detail or a log line.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, SecretStr, field_validator

from monitor.core.money import money
from monitor.core.redact import redact_url
from monitor.failover.actions import Action, ActionResult, ActuatorConfig, ActuatorContext, ActuatorKind
from probes.session import outbound_failure

# https://developers.facebook.com/docs/marketing-apis/rate-limiting : 4 app, 17 user, 32 page, 613 ad account,
# 80004 ads-management business use case. Code 17 is also what a fifth daily_budget change to one ad set within
# an hour gets (Meta then blocks budget changes for that ad set for an hour).
RATE_LIMITED = frozenset({4, 17, 32, 613, 80004})
# https://developers.facebook.com/docs/graph-api/guides/error-handling : 1 "API Unknown" and 2 "API Service" are
# temporary; errors may also carry "is_transient": true.
TEMPORARY = frozenset({1, 2})
PERMANENT = frozenset({100, 102, 190, 803})  # bad parameter, expired session, invalid token, unknown object
DEFAULT_RETRY_AFTER = 60.0
STATUS_FOR = {"pause": "PAUSED", "resume": "ACTIVE"}
FINAL = frozenset({"ARCHIVED", "DELETED"})  # Meta cannot take these back to ACTIVE or PAUSED
_OBJECT_ID = re.compile(r"[0-9]{1,32}")  # also keeps "../" and "?" out of the request path
MAX_RESPONSE_BYTES = 1024 * 1024


class Config(ActuatorConfig):
    access_token: SecretStr
    base_url: str = "https://graph.facebook.com/v21.0"
    timeout: float = Field(15, gt=0, le=120)  # seconds per Graph API request

    @field_validator("access_token")
    @classmethod
    def _token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("the access token is empty; reference a system user token: access_token: ${META_ACCESS_TOKEN}")
        return token

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or any(c.isspace() for c in url):
            raise ValueError(f"{redact_url(url)!r} is not an http(s) base URL; write e.g. https://graph.facebook.com/v21.0")
        return url.rstrip("/")


class _Stop(Exception):
    """Stop the action here with this result (an API error, or an object we cannot work on)."""

    def __init__(self, result: ActionResult) -> None:
        self.result = result


def _usage_wait(headers: Any) -> float:
    """Seconds until Meta lets us back in, from the usage headers; 60 when they say nothing."""
    waits: list[float] = []
    try:  # {"<business id>": [{"type": "ads_management", "estimated_time_to_regain_access": <minutes>, ...}]}
        usage = json.loads(headers.get("X-Business-Use-Case-Usage") or "{}")
        for entries in usage.values() if isinstance(usage, dict) else ():
            for entry in entries if isinstance(entries, list) else ():
                minutes = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                if isinstance(minutes, (int, float)) and minutes > 0:
                    waits.append(minutes * 60.0)
    except ValueError:
        pass
    return max(waits, default=DEFAULT_RETRY_AFTER)


def _error(status: int, body: Any, headers: Any, token: str) -> ActionResult:
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code, subcode = err.get("code"), err.get("error_subcode")
    response = {
        "status": status,
        "code": code,
        "error_subcode": subcode,
        "fbtrace_id": err.get("fbtrace_id") or headers.get("x-fb-trace-id"),
    }
    message = " ".join(str(err.get("message") or "").split()).replace(token, "***")[:200]
    detail = f"Graph API HTTP {status}"
    if code is not None:
        detail += f", error {code}" + (f"/{subcode}" if subcode is not None else "")
    if message:
        detail += f": {message}"
    if code in RATE_LIMITED:
        return ActionResult.retry(f"rate limited: {detail}", retry_after=_usage_wait(headers), response=response)
    if code in TEMPORARY or status >= 500 or status == 429 or err.get("is_transient") is True:
        return ActionResult.retry(detail, response=response)
    if 300 <= status < 400:  # not followed: it would carry the token along
        return ActionResult.failed(f"{detail}: a redirect, which is not followed; check base_url", response=response)
    if code in PERMANENT or 400 <= status < 500:
        return ActionResult.failed(detail, response=response)
    return ActionResult.retry(f"unexpected answer: {detail}", response=response)


async def _graph(
    ctx: ActuatorContext, config: Config, target: str, form: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """GET (form None) or POST one Graph API object: (body, response facts); raise _Stop on failure."""
    token = config.access_token.get_secret_value()
    url = f"{config.base_url}/{target}"
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    try:
        if form is None:
            request = ctx.http.get(
                url, params={"fields": "daily_budget,status", "access_token": token}, timeout=timeout, allow_redirects=False
            )
        else:  # the token in the form body keeps it out of URLs that proxies log
            request = ctx.http.post(url, data={**form, "access_token": token}, timeout=timeout, allow_redirects=False)
        async with request as resp:
            raw = await resp.content.read(MAX_RESPONSE_BYTES)
            status, headers = resp.status, resp.headers
    except (TimeoutError, aiohttp.ClientError) as exc:
        # Our own words: aiohttp's messages can quote the URL, and a GET's URL holds the token.
        what, permanent = outbound_failure(exc)
        make = ActionResult.failed if permanent else ActionResult.retry
        raise _Stop(make(f"Graph API unreachable: {what}", response={"error": type(exc).__name__})) from None
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not 200 <= status < 300 or not isinstance(body, dict) or "error" in body:
        raise _Stop(_error(status, body, headers, token))
    return body, {"status": status, "fbtrace_id": headers.get("x-fb-trace-id")}


async def _read(ctx: ActuatorContext, config: Config, target: str) -> dict[str, Any]:
    return (await _graph(ctx, config, target))[0]


def _budget(obj: dict[str, Any], target: str) -> int:
    try:  # Graph returns daily_budget as a string of minor units, e.g. "5000"
        return int(obj["daily_budget"])
    except (KeyError, TypeError, ValueError):
        raise _Stop(
            ActionResult.failed(
                f"{target} has no daily budget (lifetime budget, or the budget is set on its campaign); "
                "point target at the object that holds the daily_budget"
            )
        ) from None


async def _set_amount(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    if action.value is None:
        return ActionResult.failed("set_amount without a value")
    current = _budget(await _read(ctx, config, action.target), action.target)
    if current == action.value:  # also a previous attempt that succeeded before we heard back
        return ActionResult.applied(f"daily_budget already {money(current, action.unit)}", observed=current)
    if action.expect is not None and current != action.expect:
        return ActionResult.conflict(
            f"daily_budget is {money(current, action.unit)}, expected {money(action.expect, action.unit)}: "
            "changed outside channel-monitor; nothing written",
            observed=current,
        )
    _, response = await _graph(ctx, config, action.target, {"daily_budget": str(action.value)})
    ctx.log.info(
        "meta_ads: daily_budget of %s %s -> %s (key %s)",
        action.target,
        money(current, action.unit),
        money(action.value, action.unit),
        action.key,
    )
    after = _budget(await _read(ctx, config, action.target), action.target)
    if after != action.value:
        return ActionResult.retry(
            f"read-back shows {money(after, action.unit)}, not {money(action.value, action.unit)}", observed=after, response=response
        )
    return ActionResult.applied(
        f"daily_budget {money(current, action.unit)} -> {money(after, action.unit)}", observed=after, response=response
    )


async def _set_status(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    wanted = STATUS_FOR[action.op]
    current = (await _read(ctx, config, action.target)).get("status")
    if current in FINAL:
        return ActionResult.failed(f"{action.target} is {current}; Meta does not allow changing it")
    if current == wanted:
        return ActionResult.applied(f"status already {wanted}")
    _, response = await _graph(ctx, config, action.target, {"status": wanted})
    ctx.log.info("meta_ads: status of %s %s -> %s (key %s)", action.target, current, wanted, action.key)
    after = (await _read(ctx, config, action.target)).get("status")
    if after != wanted:
        return ActionResult.retry(f"read-back shows status {after}, not {wanted}", response=response)
    return ActionResult.applied(f"status {current} -> {after}", response=response)


async def apply(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    """Make the ad set or campaign `action.target` match the action, with a read-back."""
    if action.op in ("post_notice", "withdraw_notice"):
        return ActionResult.failed("meta_ads does not post notices; use a webhook actuator")
    if not _OBJECT_ID.fullmatch(action.target):
        return ActionResult.failed(f"target {action.target[:40]!r} is not a Meta ad set or campaign id (digits)")
    try:
        if action.op == "set_amount":
            return await _set_amount(action, config, ctx)
        if action.op in STATUS_FOR:
            return await _set_status(action, config, ctx)
        return ActionResult.failed(f"meta_ads cannot {action.op}")
    except _Stop as exc:
        return exc.result


KIND = ActuatorKind(Config, apply, description="Meta Marketing API: ad set or campaign daily_budget and status")
