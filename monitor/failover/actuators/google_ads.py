"""Google Ads API actuator: a campaign budget's daily amount, and a campaign's status (paused / enabled).

The documented REST interface (https://developers.google.com/google-ads/api/rest/overview) over the service's
shared outbound session, not the official `google-ads` client library: that library is synchronous gRPC (every
call would hold a thread of our event loop's pool for its whole round trip), pulls in grpcio and protobuf (tens of
MB) for two request kinds, and would bypass the network guard every other outbound request goes through. The
REST calls used are three: `googleAds:search` (read a value), `campaignBudgets:mutate` and `campaigns:mutate`
(each with an update mask). Every change is read, compared with what failover expects, written, and read back.

Auth as Google documents it for an installed/web OAuth client: a developer token (header `developer-token`), an
access token from the OAuth refresh token (refreshed a minute before it expires, and once more on an
UNAUTHENTICATED answer), and `login-customer-id` when the account is reached through a manager account.
Secrets never appear in a detail or a log line.

Amounts: a promotion's values are minor units of its currency; Google Ads takes micros (millionths of the
currency unit). 625.00 PLN is 62500 minor units and 625000000 micros: exact integer arithmetic, never floats.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, SecretStr, field_validator

from monitor.core.money import DECIMALS, money
from monitor.core.redact import redact_url
from monitor.failover.actions import Action, ActionResult, ActuatorConfig, ActuatorContext, ActuatorKind
from probes.session import outbound_failure

BUDGET = re.compile(r"customers/([0-9]{1,20})/campaignBudgets/([0-9]{1,20})")
CAMPAIGN = re.compile(r"customers/([0-9]{1,20})/campaigns/([0-9]{1,20})")
STATUS_FOR = {"pause": "PAUSED", "resume": "ENABLED"}
REFRESH_BEFORE = 60.0  # seconds before an access token expires that a new one is fetched
DEFAULT_RETRY_AFTER = 30.0  # a quota error that names no retryDelay
MAX_RESPONSE_BYTES = 1024 * 1024
# https://developers.google.com/google-ads/api/docs/best-practices/error-types: these are temporary.
TEMPORARY_STATUSES = frozenset({"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED"})


class Config(ActuatorConfig):
    developer_token: SecretStr
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr
    refresh_token: SecretStr
    login_customer_id: str | None = None  # the manager account's id, when the budgets are reached through one
    base_url: str = "https://googleads.googleapis.com/v26"
    token_url: str = "https://oauth2.googleapis.com/token"
    timeout: float = Field(15, gt=0, le=120)  # seconds per request

    @field_validator("developer_token", "client_secret", "refresh_token")
    @classmethod
    def _secret(cls, value: SecretStr, info: Any) -> SecretStr:
        if not value.get_secret_value().strip():
            env = {"developer_token": "GOOGLE_ADS_DEVELOPER_TOKEN", "client_secret": "GOOGLE_ADS_CLIENT_SECRET"}
            name = env.get(info.field_name, "GOOGLE_ADS_REFRESH_TOKEN")
            raise ValueError(f"{info.field_name} is empty; reference it from the environment: {info.field_name}: ${{{name}}}")
        return value

    @field_validator("login_customer_id")
    @classmethod
    def _customer_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace("-", "")
        if not re.fullmatch(r"[0-9]{10}", digits):
            raise ValueError(f"{value!r} is not a Google Ads customer id; write the manager account's 10 digits, e.g. 123-456-7890")
        return digits

    @field_validator("base_url", "token_url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or any(c.isspace() for c in url):
            raise ValueError(f"{redact_url(url)!r} is not an http(s) URL; e.g. https://googleads.googleapis.com/v26")
        return url.rstrip("/")


class _Stop(Exception):
    """Stop the action here with this result (an API error, or an object we cannot work on)."""

    def __init__(self, result: ActionResult) -> None:
        self.result = result


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


def _token_key(config: Config) -> str:
    """Where this client's access token is kept in the context's cache (one per client and refresh token)."""
    secret = f"{config.client_id}\x00{config.refresh_token.get_secret_value()}".encode()
    return "google_ads:" + hashlib.blake2b(secret, digest_size=12).hexdigest()


def _secrets(config: Config) -> list[str]:
    return [s.get_secret_value() for s in (config.developer_token, config.client_secret, config.refresh_token)]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def _post(ctx: ActuatorContext, config: Config, url: str, **kw: Any) -> tuple[int, Any, Any]:
    """POST and read a JSON answer: (status, body or None, headers); unreachable: _Stop(retry or failed)."""
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    try:
        async with ctx.http.post(url, timeout=timeout, allow_redirects=False, **kw) as resp:
            raw = await resp.content.read(MAX_RESPONSE_BYTES)
            status, headers = resp.status, resp.headers
    except (TimeoutError, aiohttp.ClientError) as exc:
        what, permanent = outbound_failure(exc)
        make = ActionResult.failed if permanent else ActionResult.retry
        raise _Stop(make(f"Google Ads unreachable: {what}", response={"error": type(exc).__name__})) from None
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return status, body, headers


async def _access_token(ctx: ActuatorContext, config: Config, *, fresh: bool = False) -> str:
    """The cached access token, or a new one from the refresh token (when asked, or near its expiry)."""
    key = _token_key(config)
    token = ctx.cache.get(key)
    if not fresh and isinstance(token, _Token) and ctx.clock() < token.expires_at - REFRESH_BEFORE:
        return token.value
    form = {
        "grant_type": "refresh_token",
        "client_id": config.client_id,
        "client_secret": config.client_secret.get_secret_value(),
        "refresh_token": config.refresh_token.get_secret_value(),
    }
    status, body, _ = await _post(ctx, config, config.token_url, data=form)
    body = body if isinstance(body, dict) else {}
    if status == 200 and isinstance(body.get("access_token"), str):
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 3600.0
        ctx.cache[key] = _Token(body["access_token"], ctx.clock() + lifetime)
        return body["access_token"]
    ctx.cache.pop(key, None)
    error, said = str(body.get("error") or ""), _scrub(" ".join(str(body.get("error_description") or "").split()), _secrets(config))[:200]
    detail = f"OAuth token refresh: HTTP {status}" + (f", {error}" if error else "") + (f": {said}" if said else "")
    if error == "invalid_grant":
        raise _Stop(
            ActionResult.failed(
                f"{detail}; the refresh token was revoked or has expired: create a new one for this OAuth client "
                "and put it in refresh_token"
            )
        )
    if error in ("invalid_client", "unauthorized_client"):
        raise _Stop(ActionResult.failed(f"{detail}; check client_id and client_secret (the OAuth client of the refresh token)"))
    if status >= 500 or status == 429:
        raise _Stop(ActionResult.retry(detail))
    raise _Stop(ActionResult.failed(detail))


def _retry_delay(failure: dict[str, Any], headers: Any) -> float:
    """The API's retryDelay ("30s") from a quota error's details, else Retry-After, else 30 s."""
    for detail in failure.get("details") or []:
        for error in detail.get("errors") or [] if isinstance(detail, dict) else []:
            delay = ((error.get("details") or {}).get("quotaErrorDetails") or {}).get("retryDelay") if isinstance(error, dict) else None
            if isinstance(delay, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?s", delay):
                return float(delay[:-1])
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _messages(failure: dict[str, Any]) -> tuple[list[str], list[str], str | None]:
    """The GoogleAdsFailure's error codes (e.g. quotaError.RESOURCE_EXHAUSTED), messages, and request id."""
    codes, messages, request_id = [], [], None
    for detail in failure.get("details") or []:
        if not isinstance(detail, dict):
            continue
        request_id = request_id or detail.get("requestId")
        for error in detail.get("errors") or []:
            if isinstance(error, dict):
                codes += [f"{kind}.{value}" for kind, value in (error.get("errorCode") or {}).items()]
                if error.get("message"):
                    messages.append(" ".join(str(error["message"]).split()))
    return codes, messages, request_id


def _error(status: int, body: Any, headers: Any, config: Config, customer: str) -> ActionResult:
    failure = body.get("error") if isinstance(body, dict) else None
    failure = failure if isinstance(failure, dict) else {}
    grpc_status = str(failure.get("status") or "")
    codes, messages, request_id = _messages(failure)
    said = "; ".join(messages) or " ".join(str(failure.get("message") or "").split())
    detail = _scrub(
        f"Google Ads HTTP {status}" + (f" {grpc_status}" if grpc_status else "") + (f": {said}" if said else ""), _secrets(config)
    )
    detail = detail[:300]
    response = {"status": status, "grpc_status": grpc_status or None, "errors": codes[:5], "request_id": request_id}
    if status == 429 or grpc_status == "RESOURCE_EXHAUSTED" or any(c.startswith("quotaError.") for c in codes):
        return ActionResult.retry(f"quota: {detail}", retry_after=_retry_delay(failure, headers), response=response)
    if status >= 500 or grpc_status in TEMPORARY_STATUSES:
        return ActionResult.retry(detail, response=response)
    if 300 <= status < 400:
        return ActionResult.failed(f"{detail}: a redirect, which is not followed; check base_url", response=response)
    if status == 401 or grpc_status == "UNAUTHENTICATED":
        return ActionResult.failed(
            f"{detail}; authentication failed: check developer_token, client_id, client_secret and refresh_token", response=response
        )
    if status == 403 or grpc_status == "PERMISSION_DENIED":
        hint = (
            f"the refresh token's user has no access to customer {customer}"
            + ("" if config.login_customer_id else " (reached through a manager account? set login_customer_id)")
            + ", or the developer token is not approved for this account"
        )
        return ActionResult.failed(f"{detail}; {hint}", response=response)
    if status == 404 or grpc_status == "NOT_FOUND":
        return ActionResult.failed(f"{detail}; check the target's customer and resource ids", response=response)
    if 400 <= status < 500:
        return ActionResult.failed(detail, response=response)
    return ActionResult.retry(f"unexpected answer: {detail}", response=response)


async def _api(ctx: ActuatorContext, config: Config, customer: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST customers/{customer}/{method} with a fresh enough token (renewed once on UNAUTHENTICATED); _Stop on failure."""
    url = f"{config.base_url}/customers/{customer}/{method}"
    for attempt in (1, 2):
        headers = {
            "Authorization": f"Bearer {await _access_token(ctx, config, fresh=attempt == 2)}",
            "developer-token": config.developer_token.get_secret_value(),
        }
        if config.login_customer_id:
            headers["login-customer-id"] = config.login_customer_id
        status, answer, response_headers = await _post(ctx, config, url, json=body, headers=headers)
        unauthenticated = status == 401 or (isinstance(answer, dict) and (answer.get("error") or {}).get("status") == "UNAUTHENTICATED")
        if unauthenticated and attempt == 1:
            continue  # the access token expired early or was revoked: one new token, one more try
        if not 200 <= status < 300 or not isinstance(answer, dict) or "error" in answer:
            raise _Stop(_error(status, answer, response_headers, config, customer))
        partial = answer.get("partialFailureError")
        if isinstance(partial, dict) and partial.get("code"):
            raise _Stop(_error(400, {"error": partial}, response_headers, config, customer))
        return answer
    raise AssertionError("unreachable: the second attempt returns or raises")


async def _read(ctx: ActuatorContext, config: Config, customer: str, query: str, entity: str) -> dict[str, Any]:
    answer = await _api(ctx, config, customer, "googleAds:search", {"query": query})
    rows = answer.get("results") or []
    if not rows or not isinstance(rows[0], dict) or not isinstance(rows[0].get(entity), dict):
        raise _Stop(
            ActionResult.failed(
                f"no {entity} found for this target in customer {customer}: check the resource name "
                "(and login_customer_id when the account is reached through a manager account)"
            )
        )
    return rows[0][entity]


def _micros_per_minor(unit: str) -> int:
    return 10 ** (6 - DECIMALS.get(unit, 2))


def _shown(micros: int, unit: str) -> str:
    """Micros as an amount: exact in minor units when they are whole ones, else with all six decimals."""
    per = _micros_per_minor(unit)
    return money(micros // per, unit) if micros % per == 0 else f"{micros / 1_000_000:,.6f} {unit}"


async def _budget_micros(ctx: ActuatorContext, config: Config, customer: str, resource: str) -> int:
    query = f"SELECT campaign_budget.amount_micros FROM campaign_budget WHERE campaign_budget.resource_name = '{resource}'"
    budget = await _read(ctx, config, customer, query, "campaignBudget")
    try:  # int64 fields are JSON strings in the REST interface
        return int(budget["amountMicros"])
    except (KeyError, TypeError, ValueError):
        raise _Stop(
            ActionResult.failed(f"{resource} has no daily amount (a shared or total budget?); point target at a daily campaign budget")
        ) from None


async def _set_amount(action: Action, config: Config, ctx: ActuatorContext, customer: str, validate_only: bool) -> ActionResult:
    if action.value is None:
        return ActionResult.failed("set_amount without a value")
    if action.unit == "weight" or not re.fullmatch(r"[A-Z]{3}", action.unit):
        return ActionResult.failed(f"google_ads sets budgets in a currency; this promotion's unit is {action.unit!r}")
    per = _micros_per_minor(action.unit)
    wanted = action.value * per
    current = await _budget_micros(ctx, config, customer, action.target)
    observed = current // per if current % per == 0 else None
    if current == wanted:  # also a previous attempt that succeeded before we heard back
        return ActionResult.applied(f"daily budget already {_shown(current, action.unit)}", observed=observed)
    if action.expect is not None and current != action.expect * per:
        return ActionResult.conflict(
            f"daily budget is {_shown(current, action.unit)}, expected {money(action.expect, action.unit)}: "
            "changed outside channel-monitor; nothing written",
            observed=observed,
        )
    operation = {"update": {"resourceName": action.target, "amountMicros": str(wanted)}, "updateMask": "amountMicros"}
    answer = await _api(ctx, config, customer, "campaignBudgets:mutate", {"operations": [operation], "validateOnly": validate_only})
    if validate_only:
        return ActionResult.applied(f"would set the daily budget {_shown(current, action.unit)} -> {money(action.value, action.unit)}")
    response = {"request_id": answer.get("requestId")}
    ctx.log.info(
        "google_ads: daily budget of %s %s -> %s (key %s)",
        action.target,
        _shown(current, action.unit),
        money(action.value, action.unit),
        action.key,
    )
    after = await _budget_micros(ctx, config, customer, action.target)
    if after != wanted:
        return ActionResult.retry(
            f"read-back shows {_shown(after, action.unit)}, not {money(action.value, action.unit)}", response=response
        )
    return ActionResult.applied(
        f"daily budget {_shown(current, action.unit)} -> {_shown(after, action.unit)}", observed=action.value, response=response
    )


async def _campaigns(ctx: ActuatorContext, config: Config, customer: str, target: str) -> dict[str, str]:
    """The campaigns a pause or resume acts on, with their status: the target campaign, or every campaign that
    spends from the target budget (so one target, the budget, serves every op of a promotion's placement)."""
    if CAMPAIGN.fullmatch(target):
        query = f"SELECT campaign.resource_name, campaign.status FROM campaign WHERE campaign.resource_name = '{target}'"
    else:
        query = f"SELECT campaign.resource_name, campaign.status FROM campaign WHERE campaign.campaign_budget = '{target}'"
    answer = await _api(ctx, config, customer, "googleAds:search", {"query": query})
    found = {
        str(row["campaign"].get("resourceName")): str(row["campaign"].get("status"))
        for row in answer.get("results") or []
        if isinstance(row, dict) and isinstance(row.get("campaign"), dict)
    }
    if not found:
        raise _Stop(
            ActionResult.failed(
                f"no campaign found for {target} in customer {customer}: check the resource name (and login_customer_id "
                "when the account is reached through a manager account)"
            )
        )
    return found


async def _set_status(action: Action, config: Config, ctx: ActuatorContext, customer: str, validate_only: bool) -> ActionResult:
    wanted = STATUS_FOR[action.op]
    current = await _campaigns(ctx, config, customer, action.target)
    removed = sorted(name for name, status in current.items() if status == "REMOVED")
    if removed and len(removed) == len(current):
        return ActionResult.failed(f"{', '.join(removed)} is REMOVED; Google Ads cannot enable or pause it")
    to_change = sorted(name for name, status in current.items() if status not in (wanted, "REMOVED"))
    if not to_change:
        return ActionResult.applied(f"status already {wanted}" + (f" ({len(current)} campaigns)" if len(current) > 1 else ""))
    operations = [{"update": {"resourceName": name, "status": wanted}, "updateMask": "status"} for name in to_change]
    answer = await _api(ctx, config, customer, "campaigns:mutate", {"operations": operations, "validateOnly": validate_only})
    was = "/".join(sorted({current[name] for name in to_change}))
    if validate_only:
        return ActionResult.applied(
            f"would set the status {was} -> {wanted}" + (f" on {len(to_change)} campaigns" if len(to_change) > 1 else "")
        )
    ctx.log.info("google_ads: status of %s %s -> %s (key %s)", ", ".join(to_change), was, wanted, action.key)
    after = await _campaigns(ctx, config, customer, action.target)
    behind = sorted(name for name in to_change if after.get(name) != wanted)
    response = {"request_id": answer.get("requestId")}
    if behind:
        return ActionResult.retry(f"read-back shows {', '.join(behind)} not {wanted}", response=response)
    return ActionResult.applied(
        f"status {was} -> {wanted}" + (f" on {len(to_change)} campaigns" if len(to_change) > 1 else ""), response=response
    )


async def _run(action: Action, config: Config, ctx: ActuatorContext, validate_only: bool) -> ActionResult:
    if action.op in ("post_notice", "withdraw_notice"):
        return ActionResult.failed("google_ads does not post notices; use a webhook actuator")
    if action.op not in ("set_amount", *STATUS_FOR):
        return ActionResult.failed(f"google_ads cannot {action.op}")
    match = BUDGET.fullmatch(action.target) or (CAMPAIGN.fullmatch(action.target) if action.op != "set_amount" else None)
    if match is None:
        example = "customers/1234567890/campaignBudgets/987654321"
        also = "" if action.op == "set_amount" else " (or a campaign, customers/1234567890/campaigns/123456789)"
        what = f"target {action.target[:60]!r} is not a Google Ads resource name for {action.op}"
        return ActionResult.failed(f"{what}; write a campaign budget, e.g. {example}{also}")
    try:
        if action.op == "set_amount":
            return await _set_amount(action, config, ctx, match.group(1), validate_only)
        return await _set_status(action, config, ctx, match.group(1), validate_only)
    except _Stop as exc:
        return exc.result


async def apply(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    """Make the campaign budget or campaign `action.target` match the action, with a read-back."""
    return await _run(action, config, ctx, validate_only=False)


async def validate(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    """Whether Google Ads would accept the action now (the same reads and checks, the write with validateOnly):
    applied means it would be; nothing is changed."""
    return await _run(action, config, ctx, validate_only=True)


KIND = ActuatorKind(Config, apply, description="Google Ads API: campaign budget daily amount and campaign status", validate=validate)
