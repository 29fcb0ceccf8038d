"""Webhook notifier: POST each batch as signed JSON to the seller's own endpoint.

The body is signed like the failover webhook (monitor/core/signing.py, header
X-Channel-Monitor-Signature), so one receiver can verify both; the Idempotency-Key is the same on
every retry of a batch, so the receiver can drop duplicates.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from alerts.base import Alert, Batch, Delivery, Notifier, NotifierConfig, NotifierContext, NotifierKind, NotifyError, Thread
from alerts.wording import Wording
from monitor.core.http import USER_AGENT, retry_after
from monitor.core.redact import scrub, secret_values, url_origin
from monitor.core.signing import HEADER, TIMESTAMP_HEADER, sign
from monitor.core.timefmt import iso_z
from monitor.core.webhook_options import SignedWebhookOptions
from probes.session import outbound_failure

MAX_RESPONSE_BYTES = 16 * 1024  # enough for an error message
_RANK = {"info": 0, "warning": 1, "critical": 2}


class Config(SignedWebhookOptions, NotifierConfig):
    EXAMPLE_URL = "https://hooks.example.com/alerts"
    SECRET_ENV = "ALERT_WEBHOOK_SECRET"
    WHO = "webhook notifier"


def delivery_id(batch: Batch) -> str:
    """The same for every attempt at one batch: the receiver's deduplication key."""
    return f"{batch.destination}:{batch.alerts[0].id}-{batch.alerts[-1].id}"


def _alert(alert: Alert, wording: Wording) -> dict[str, Any]:
    return {
        "id": alert.id,
        "event": alert.event,
        "severity": alert.severity,
        "channel": alert.channel,
        "channel_name": alert.channel_name,
        "old_state": alert.old_state,
        "new_state": alert.new_state,
        "at": iso_z(alert.at),
        "cause": dict(alert.cause),
        "down_for": alert.down_for,
        "detail": alert.detail,
        "key": alert.key,
        "line": wording.line(alert),
    }


def payload(batch: Batch, wording: Wording) -> dict[str, Any]:
    """The JSON object sent for batch."""
    return {
        "id": delivery_id(batch),
        "title": wording.title(batch.alerts),
        "severity": max((a.severity for a in batch.alerts), key=_RANK.__getitem__),
        "alerts": [_alert(a, wording) for a in batch.alerts],
        "status_url": batch.status_url,
    }


def encode(body: dict[str, Any]) -> bytes:
    """Compact, sorted keys: the signed bytes are reproducible."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str).encode()


def _reason(raw: bytes, secrets: tuple[str, ...]) -> str:
    """The receiver's own explanation, one line, at most 200 characters, never echoing a configured secret
    (scrubbed before it is cut: a secret on the cut must not leave its first characters)."""
    try:
        body = json.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        body = None
    text: Any = ""
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or ""
        if isinstance(text, dict):
            text = text.get("message") or ""
    text = scrub(" ".join(str(text).split()), secrets)
    return text[:197] + "..." if len(text) > 200 else text


class WebhookNotifier(Notifier):
    threads = False

    def __init__(self, config: Config, ctx: NotifierContext, id: str = "webhook") -> None:
        self.id = id
        self.config = config
        self.ctx = ctx
        self.wording = Wording()
        # Only scheme and host: Zapier, n8n and Slack put the token in the path.
        self.shown = f"{id} ({url_origin(config.url)})"
        self.secrets = secret_values(config)
        self._owned: list[aiohttp.ClientSession] = []

    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        now = self.ctx.clock()
        secret = self.config.secret.get_secret_value()
        key = delivery_id(batch)
        body = encode(payload(batch, self.wording))
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": USER_AGENT,
            HEADER: sign(secret, body, int(now)),
            TIMESTAMP_HEADER: str(int(now)),
        }
        try:
            async with self.ctx.session(self._owned).post(
                self.config.url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=self.config.timeout)
            ) as resp:
                status = resp.status
                raw = await resp.content.read(MAX_RESPONSE_BYTES)
                wait = retry_after(resp.headers.get("Retry-After"), now) if status in (429, 503) else None
        except (TimeoutError, aiohttp.ClientError) as exc:
            what, permanent = outbound_failure(exc)  # never aiohttp's text: it can quote the URL
            raise NotifyError(f"webhook {self.shown} unreachable: {what}", permanent=permanent) from None
        why = _reason(raw, (*self.secrets, secret))
        said = f"HTTP {status}" + (f": {why}" if why else "")
        if 200 <= status < 300:
            self.ctx.log.info("alert webhook %s accepted %s (HTTP %s)", self.shown, key, status)
            return Delivery()
        if status in (408, 425, 429) or status >= 500:
            raise NotifyError(f"webhook {self.shown} temporarily failed, {said}", retry_after=wait)
        if 300 <= status < 400:  # a signed POST is not re-sent to another address
            raise NotifyError(f"webhook {self.shown} redirected ({said}); set url to the final address", permanent=True)
        raise NotifyError(f"webhook {self.shown} rejected the alerts, {said}", permanent=True)

    async def close(self) -> None:
        for session in self._owned:
            await session.close()
        self._owned.clear()


def build(id: str, config: Config, ctx: NotifierContext) -> WebhookNotifier:
    return WebhookNotifier(config, ctx, id)


KIND = NotifierKind(Config, build, "POST each batch of alerts as HMAC-signed JSON to your own endpoint")
