"""Slack notifier: a bot token (one message per incident, updated in place, details in its thread) or an
incoming webhook (one message per batch). Payloads come from alerts/slack_blocks.py; this file does the I/O.

The token and the webhook URL (itself a credential) never appear in an error or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler, default_interval_calculator
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from alerts import slack_blocks
from alerts.base import Batch, Delivery, Notifier, NotifierConfig, NotifierContext, NotifierKind, NotifyError, Thread
from alerts.wording import Wording
from monitor.core.http import retry_after
from monitor.core.redact import secret_values
from probes.session import outbound_failure

T = TypeVar("T")
DEFAULT_BASE_URL = "https://slack.com/api/"
WEBHOOK_HOST = "hooks.slack.com"
MAX_RATE_LIMIT_WAIT = 30  # seconds; a longer Retry-After goes back to the router as NotifyError.retry_after
WEBHOOK_5XX_RETRIES = 2
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}|#[a-z0-9][a-z0-9._-]{0,79}")
_CODE = re.compile(r"[a-z_]{1,60}")  # what Slack's error codes look like; anything else is not echoed

# Web API errors that retrying cannot fix, with the fix (https://api.slack.com/methods/chat.postMessage#errors).
_TOKEN = (
    "Slack rejected the bot token ({error}): the app was uninstalled or the token revoked; reinstall the "
    "Slack app and put its Bot User OAuth Token (xoxb-...) in the variable the config references"
)
_PAYLOAD = (
    "Slack refused this message ({error}); retrying it cannot help, later messages are not affected. "
    "This is a bug in channel-monitor's message payload: please report it"
)
PERMANENT = {
    **dict.fromkeys(
        (
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "token_expired",
            "not_allowed_token_type",
            "no_permission",
            "team_access_not_granted",
        ),
        _TOKEN,
    ),
    "missing_scope": "the Slack app lacks the chat:write scope (missing_scope): add it under OAuth & Permissions and reinstall the app",
    "channel_not_found": (
        "Slack finds no channel {channel} (channel_not_found): set channel to the id shown at the "
        "bottom of the channel's details; for a private channel, invite the bot: /invite @channel-monitor"
    ),
    "not_in_channel": "the bot is not in {channel} (not_in_channel): invite it there: /invite @channel-monitor (your app's name)",
    **dict.fromkeys(("is_archived", "channel_is_archived"), "{channel} is archived ({error}): unarchive it or set channel to another one"),
    **dict.fromkeys(
        (
            "restricted_action",
            "restricted_action_read_only_channel",
            "restricted_action_thread_only_channel",
            "restricted_action_non_threadable_channel",
        ),
        "the bot may not post in {channel} ({error}): allow apps to post there or set another channel",
    ),
    **dict.fromkeys(
        (
            "msg_too_long",
            "msg_blocks_too_long",
            "invalid_blocks",
            "invalid_blocks_format",
            "no_text",
            "too_many_attachments",
            "invalid_arguments",
        ),
        _PAYLOAD,
    ),
}
# chat.update cannot change the earlier message (deleted, too old): post a new one instead.
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# Incoming webhook bodies (https://api.slack.com/messaging/webhooks#handling_errors); any other 4xx is permanent too.
_HOOK_GONE = (
    "the incoming webhook no longer works ({error}): it was removed or its channel deleted or archived; "
    "add a new incoming webhook to the Slack app and set webhook_url to it"
)
WEBHOOK_PERMANENT = {
    **dict.fromkeys(
        (
            "no_service",
            "channel_not_found",
            "channel_is_archived",
            "team_disabled",
            "invalid_token",
            "no_service_id",
            "no_team",
            "invalid_team",
            "user_not_found",
        ),
        _HOOK_GONE,
    ),
    **dict.fromkeys(
        ("action_prohibited", "posting_to_general_channel_denied"),
        "Slack refused the incoming webhook ({error}): a workspace admin restricted posting to its channel",
    ),
    **dict.fromkeys(("invalid_payload", "too_many_attachments"), _PAYLOAD),
}


class Config(NotifierConfig):
    """Slack: token + channel (a bot: threads, updates in place) or webhook_url (an incoming webhook)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a validation error must not echo a token

    token: SecretStr | None = None  # ${SLACK_BOT_TOKEN}: the app's Bot User OAuth Token, xoxb-...
    webhook_url: SecretStr | None = None  # ${SLACK_WEBHOOK_URL}: https://hooks.slack.com/services/...
    channel: str | None = None  # with token: a channel id (C0123ABCD) or #name
    # Web API base. Set to another server (a test fake, a proxy) and webhook_url must be on that server too.
    base_url: str = DEFAULT_BASE_URL
    min_interval: float = Field(1.0, ge=0, le=60)  # seconds between messages to the channel
    timeout: float = Field(10, gt=0, le=120)  # seconds per HTTP request

    @field_validator("token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        value = token.get_secret_value().strip() if token else None
        if value is not None and not value.startswith("xoxb-"):
            what = {"xoxp-": "a user token", "xapp-": "an app-level token", "http": "a URL (use webhook_url)"}
            got = next((w for prefix, w in what.items() if value.startswith(prefix)), "not a bot token")
            raise ValueError(
                f"token must be a bot token starting with xoxb-, this is {got}; copy the Bot User "
                "OAuth Token from the Slack app's OAuth & Permissions page"
            )
        return token

    @field_validator("channel")
    @classmethod
    def _channel(cls, channel: str | None) -> str | None:
        if channel is not None and not _CHANNEL.fullmatch(channel):
            raise ValueError(
                f"{channel!r} is not a Slack channel; write its id (C0123ABCD, shown at the bottom of "
                "the channel's details) or #name in lower case"
            )
        return channel

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.username:
            raise ValueError(f"{url!r} is not an http(s) base URL; leave it out (Slack's is {DEFAULT_BASE_URL})")
        return url if url.endswith("/") else url + "/"

    @model_validator(mode="after")
    def _one_mode(self) -> Config:
        if (self.token is None) == (self.webhook_url is None):
            raise ValueError(
                "set either token (a bot: updates its messages, replies in threads) or webhook_url "
                "(an incoming webhook), exactly one of them"
            )
        if self.token is not None and self.channel is None:
            raise ValueError("channel is required with token: the channel id (C0123ABCD) or #name to post in")
        if self.webhook_url is not None:
            if self.channel is not None:
                raise ValueError("leave channel out with webhook_url: an incoming webhook posts to the channel chosen when it was added")
            self._check_webhook(self.webhook_url.get_secret_value())
        return self

    def _check_webhook(self, url: str) -> None:
        """hooks.slack.com over https; with another base_url (tests, a proxy), that server instead."""
        parts = urlsplit(url)
        if self.base_url == DEFAULT_BASE_URL:
            if parts.scheme != "https" or parts.hostname != WEBHOOK_HOST or len(parts.path) < 2:
                raise ValueError(
                    f"webhook_url must be https://{WEBHOOK_HOST}/services/... (the URL Slack shows for "
                    "the incoming webhook); the value given is not (not shown: it is a secret)"
                )
            return
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.hostname, parts.port) != (base.scheme, base.hostname, base.port):
            raise ValueError(
                f"webhook_url must be on the base_url's server ({base.scheme}://{base.netloc}) when "
                "base_url is set; the value given is not (not shown: it is a secret)"
            )


class _RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 handler, but only for a short, whole-second Retry-After (the SDK does int() on it)."""

    async def _can_retry_async(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        wait = _retry_after(response.headers) if response is not None else None
        return (
            await super()._can_retry_async(state=state, request=request, response=response, error=error)
            and wait is not None
            and wait.is_integer()
            and wait <= MAX_RATE_LIMIT_WAIT
        )


def retry_handlers(*, server_errors: bool = True) -> list[AsyncRetryHandler]:
    """429 (honours Retry-After), dropped connections and, unless told not to, 500/503, with the SDK's backoff."""
    handlers: list[AsyncRetryHandler] = [_RateLimitRetry(max_retry_count=2), AsyncConnectionErrorRetryHandler(max_retry_count=1)]
    return [*handlers, AsyncServerErrorRetryHandler(max_retry_count=2)] if server_errors else handlers


class SlackNotifier(Notifier):
    """Post alerts to one Slack channel, at most one message per min_interval."""

    def __init__(self, id: str, config: Config, ctx: NotifierContext, wording: Wording | None = None) -> None:
        self.id, self.config, self.ctx = id, config, ctx
        self.wording = wording or Wording()
        self.threads = config.token is not None
        self.secrets = secret_values(config)
        self._owned: list[aiohttp.ClientSession] = []
        self._web: AsyncWebClient | None = None
        self._hook: AsyncWebhookClient | None = None
        self._lock = asyncio.Lock()
        self._last_sent: float | None = None
        # The SDK logs request URLs when its logger's own level is DEBUG or unset (slack_sdk/webhook/async_client.py):
        # give it one set to WARNING so the webhook URL is never logged.
        self._sdk_log = logging.getLogger("alerts.slack.sdk")
        self._sdk_log.setLevel(logging.WARNING)

    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        if self.config.webhook_url is not None:
            await self._paced(lambda: self._post_webhook(batch))
            return Delivery()
        if thread is not None and "|" in thread.ref:
            channel, ts = thread.ref.split("|", 1)
            body = slack_blocks.message(batch, thread.alerts, self.wording)
            if await self._api("chat_update", gone=GONE, channel=channel, ts=ts, **body) is not None:
                await self._reply(batch, channel, ts)
                return Delivery(ref=thread.ref)
            self.ctx.log.warning("slack %s: the earlier message cannot be updated any more; posting a new one", self.id)
        sent = await self._paced(
            lambda: self._api(
                "chat_postMessage",
                channel=self.config.channel,
                unfurl_links=False,
                **slack_blocks.message(batch, thread.alerts if thread else (), self.wording),
            )
        )
        assert sent is not None
        channel, ts = str(sent["channel"]), str(sent["ts"])
        await self._reply(batch, channel, ts)
        return Delivery(ref=f"{channel}|{ts}")

    async def close(self) -> None:
        for session in self._owned:
            await session.close()
        self._owned.clear()

    async def _reply(self, batch: Batch, channel: str, ts: str) -> None:
        """The details in the thread. The message itself went out: a failed reply is logged, not retried."""
        try:
            await self._paced(
                lambda: self._api("chat_postMessage", channel=channel, thread_ts=ts, **slack_blocks.reply(batch, self.wording))
            )
        except NotifyError as exc:
            self.ctx.log.warning("slack %s: the alert went out but its thread reply did not: %s", self.id, exc)

    async def _paced(self, call: Callable[[], Awaitable[T]]) -> T:
        # Slack allows about one message per second per channel (https://api.slack.com/apis/rate-limits#special).
        async with self._lock:
            if self._last_sent is not None:
                wait = min(self._last_sent + self.config.min_interval - self.ctx.clock(), self.config.min_interval)
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                return await call()
            finally:
                self._last_sent = self.ctx.clock()

    async def _api(self, method: str, *, gone: frozenset[str] = frozenset(), **kwargs: Any) -> Mapping[str, Any] | None:
        """Call a Web API method; None when its error is in gone; NotifyError for every other failure."""
        try:
            response = await getattr(self._web_client(), method)(**kwargs)
        except SlackApiError as exc:
            # .response is an AsyncSlackResponse, or aiohttp's response when the body was not JSON.
            data = getattr(exc.response, "data", None)
            error = str(data.get("error") or "") if isinstance(data, dict) else ""
            if error in gone:
                return None
            status = getattr(exc.response, "status_code", None) or getattr(exc.response, "status", 0)
            raise self._api_error(method.replace("_", "."), status, error, exc.response.headers) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            what, permanent = outbound_failure(exc)
            raise NotifyError(f"cannot reach Slack: {what}" + ("" if permanent else "; will retry"), permanent=permanent) from None
        return response.data if isinstance(response.data, dict) else {}

    def _api_error(self, method: str, status: int, error: str, headers: Any) -> NotifyError:
        code = error if _CODE.fullmatch(error) else f"HTTP {status}" if status != 200 else "a body that is not Slack's JSON"
        if status == 429:
            return NotifyError(f"Slack rate-limited {method} (HTTP 429)", retry_after=_retry_after(headers))
        if error in PERMANENT:
            return NotifyError(PERMANENT[error].format(channel=self.config.channel, error=code), permanent=True)
        return NotifyError(f"Slack {method} failed ({code}); will retry")

    async def _post_webhook(self, batch: Batch) -> None:
        body = slack_blocks.webhook_message(batch, self.wording)
        for attempt in range(WEBHOOK_5XX_RETRIES + 1):
            try:
                response = await self._hook_client().send(**body, unfurl_links=False, unfurl_media=False)
            except (TimeoutError, aiohttp.ClientError) as exc:
                # from None, and our own words: an aiohttp error may quote the URL, and the webhook URL is a secret.
                what, permanent = outbound_failure(exc)
                raise NotifyError(
                    f"cannot reach the Slack incoming webhook: {what}" + ("" if permanent else "; will retry"), permanent=permanent
                ) from None
            # 5xx is retried here, the only place: slack-sdk's webhook client consulted its retry handlers only on 429
            # before 3.48 and on every status >= 400 since, so a 5xx handler there would multiply our attempts by 3.
            if response.status_code < 500 or attempt == WEBHOOK_5XX_RETRIES:
                break
            await asyncio.sleep(default_interval_calculator.calculate_sleep_duration(attempt))
        if response.status_code == 200:
            return
        body_text = (response.body or "").strip()
        code = body_text if _CODE.fullmatch(body_text) else f"HTTP {response.status_code}"
        if response.status_code == 429:
            raise NotifyError("Slack rate-limited the incoming webhook (HTTP 429)", retry_after=_retry_after(response.headers))
        if body_text in WEBHOOK_PERMANENT:
            raise NotifyError(WEBHOOK_PERMANENT[body_text].format(error=code), permanent=True)
        if 400 <= response.status_code < 500:
            raise NotifyError(_HOOK_GONE.format(error=code), permanent=True)
        raise NotifyError(f"the Slack incoming webhook answered {code}; will retry")

    def _web_client(self) -> AsyncWebClient:
        # The shared outbound session: behind the network guard, and a redirect is refused, not followed.
        session = self.ctx.session(self._owned)
        if self._web is None or self._web.session is not session:
            assert self.config.token is not None
            self._web = AsyncWebClient(
                token=self.config.token.get_secret_value(),
                base_url=self.config.base_url,
                session=session,
                logger=self._sdk_log,
                retry_handlers=retry_handlers(),
                timeout=int(max(1, self.config.timeout)),
            )
            self._web.proxy = None  # direct, as every outbound request: through a proxy the guard sees only the proxy
        return self._web

    def _hook_client(self) -> AsyncWebhookClient:
        session = self.ctx.session(self._owned)
        if self._hook is None or self._hook.session is not session:
            assert self.config.webhook_url is not None
            url = self.config.webhook_url.get_secret_value()
            self._hook = AsyncWebhookClient(
                url,
                session=session,
                logger=self._sdk_log,
                timeout=int(max(1, self.config.timeout)),
                retry_handlers=retry_handlers(server_errors=False),
            )
            self._hook.proxy = None
        return self._hook


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds from aiohttp's or the SDK's headers (values there are lists); None if absent."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            value = value[0] if isinstance(value, list) and value else value
            return retry_after(value if isinstance(value, str) else None, time.time())
    return None


def build(id: str, config: Config, ctx: NotifierContext) -> SlackNotifier:
    """Build a Slack notifier from its validated options."""
    return SlackNotifier(id, config, ctx)


KIND = NotifierKind(Config, build, "Slack: a bot token (one message per incident, updated; details in its thread) or an incoming webhook")
