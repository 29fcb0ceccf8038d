"""Webhook actuator: POST each action, signed, to the seller's own endpoint (docs/failover-webhook.schema.json)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp

from monitor.core.http import USER_AGENT, retry_after
from monitor.core.redact import scrub, secret_values
from monitor.core.signing import HEADER, TIMESTAMP_HEADER, sign
from monitor.core.webhook_options import SignedWebhookOptions
from monitor.failover.actions import Action, ActionResult, ActuatorConfig, ActuatorContext, ActuatorKind
from probes.session import outbound_failure

MAX_RESPONSE_BYTES = 64 * 1024  # enough for {"value": ...} or an error message


class Config(SignedWebhookOptions, ActuatorConfig):
    EXAMPLE_URL = "https://hooks.example.com/failover"
    SECRET_ENV = "FAILOVER_WEBHOOK_SECRET"
    WHO = "webhook actuator"


def payload(action: Action, now: float) -> dict[str, Any]:
    """Return the JSON object sent for action at time now (unix seconds)."""
    return {
        "id": action.key,
        "op": action.op,
        "promotion": action.promotion,
        "notice": action.notice,
        "channel": action.channel,
        "target": action.target,
        "value": action.value,
        "expect": action.expect,
        "text": action.text,
        "unit": action.unit,
        "reason": dict(action.reason),
        "attempt": action.attempt,
        "sent_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def encode(body: dict[str, Any]) -> bytes:
    """Serialise compactly with sorted keys, so that the signed bytes are reproducible."""
    # default=str: a reason value that is not JSON (a datetime) must not stop the action.
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str).encode()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        return None


def _message(body: Any, secrets: tuple[str, ...]) -> str:
    """The receiver's own explanation ("error" or "message"), one line, at most 200 characters, scrubbed of every
    configured secret before it is cut."""
    if not isinstance(body, dict):
        return ""
    text = body.get("error") or body.get("message") or ""
    if isinstance(text, dict):  # {"error": {"message": ...}}
        text = text.get("message") or ""
    text = scrub(" ".join(str(text).split()), secrets)
    return text[:197] + "..." if len(text) > 200 else text


def outcome(status: int, headers: Any, raw: bytes, secrets: str | tuple[str, ...], now: float = 0.0) -> ActionResult:
    """Map the receiver's answer to an ActionResult (`secrets`: never repeated from what it says)."""
    body = _json(raw)
    response: dict[str, Any] = {"status": status}
    if request_id := headers.get("X-Request-Id"):
        response["request_id"] = request_id[:100]
    why = _message(body, (secrets,) if isinstance(secrets, str) else secrets)
    said = f"HTTP {status}" + (f": {why}" if why else "")
    if 200 <= status < 300:
        value = body.get("value") if isinstance(body, dict) else None
        observed = value if isinstance(value, int) and not isinstance(value, bool) else None
        return ActionResult.applied(f"webhook accepted (HTTP {status})", observed=observed, response=response)
    if status == 409:
        return ActionResult.conflict(f"webhook reports a conflict, {said}", response=response)
    if status in (408, 425, 429) or status >= 500:
        wait = retry_after(headers.get("Retry-After"), now) if status in (429, 503) else None
        return ActionResult.retry(f"webhook temporarily failed, {said}", retry_after=wait, response=response)
    if 300 <= status < 400:  # a signed POST is not re-sent to another address
        return ActionResult.failed(f"webhook redirected ({said}); set url to the final address", response=response)
    return ActionResult.failed(f"webhook rejected the action, {said}", response=response)


async def apply(action: Action, config: Config, ctx: ActuatorContext) -> ActionResult:
    """POST the signed action to config.url and report what the receiver said."""
    now = ctx.clock()
    secret = config.secret.get_secret_value()
    body = encode(payload(action, now))
    headers = {
        **config.headers,
        "Content-Type": "application/json",
        "Idempotency-Key": action.key,
        "User-Agent": USER_AGENT,
        HEADER: sign(secret, body, int(now)),
        TIMESTAMP_HEADER: str(int(now)),
    }
    try:
        async with ctx.http.post(
            config.url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=config.timeout)
        ) as resp:
            raw = await resp.content.read(MAX_RESPONSE_BYTES)
            result = outcome(resp.status, resp.headers, raw, (*secret_values(config), secret), now)
    except (TimeoutError, aiohttp.ClientError) as exc:
        # Our own words: aiohttp's messages can contain the URL, with its path and query string.
        what, permanent = outbound_failure(exc)
        make = ActionResult.failed if permanent else ActionResult.retry
        result = make(f"webhook unreachable: {what}", response={"error": type(exc).__name__})
    # A receiver may echo what it was sent (the X-Api-Key header, the URL's path): none of it is repeated.
    result = replace(result, detail=scrub(result.detail, secret_values(config)))
    # Debug: the relay logs every outcome once, for every actuator kind.
    ctx.log.debug("failover webhook %s %s on %s: %s (%s)", action.op, action.key, action.channel, result.outcome, result.detail)
    return result


KIND = ActuatorKind(Config, apply, description="POST each action, HMAC-signed, to your own endpoint")
