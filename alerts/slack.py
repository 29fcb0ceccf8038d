"""Slack notifier: a bot token (one message per incident, updated in place, details in its thread) or an
incoming webhook (one message per batch). Payloads come from alerts/slack_blocks.py; this file does the I/O.

The token and the webhook URL (itself a credential) never appear in an error or a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
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
from alerts.base import Batch, Delivery, Notifier, NotifierContext, NotifierKind, NotifyError, Thread
from alerts.slack_config import DEFAULT_BASE_URL, WEBHOOK_HOST, Config
from alerts.slack_errors import GONE, PERMANENT, WEBHOOK_PERMANENT, api_error, retry_after_header, webhook_error
from alerts.wording import Wording
from monitor.core.redact import secret_values
from probes.session import outbound_failure

T = TypeVar("T")
MAX_RATE_LIMIT_WAIT = 30  # seconds; a longer Retry-After goes back to the router as NotifyError.retry_after
WEBHOOK_5XX_RETRIES = 2


class _RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 handler, but only for a short, whole-second Retry-After (the SDK does int() on it)."""

    async def _can_retry_async(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        wait = retry_after_header(response.headers) if response is not None else None
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
        self.buttons = config.signing_secret is not None  # clicks can be verified: failover messages get buttons
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
        if self.buttons:
            await self._retire_buttons(batch, channel, ts)
        try:
            await self._paced(
                lambda: self._api(
                    "chat_postMessage", channel=channel, thread_ts=ts, **slack_blocks.reply(batch, self.wording, self.buttons)
                )
            )
        except NotifyError as exc:
            self.ctx.log.warning("slack %s: the alert went out but its thread reply did not: %s", self.id, exc)

    async def _retire_buttons(self, batch: Batch, channel: str, ts: str) -> None:
        """A decision made anywhere (Slack, the CLI, the API): the thread's replies with buttons for that promotion
        or notice lose them and say who decided. Needs the scope channels:history (groups:history in a private
        channel); without it the buttons stay, and a click on them is answered that nothing waits any more."""
        decided = {
            (a.cause.get("owner_kind"), a.cause.get("owner")): a.cause.get("decided") or ""
            for a in batch.alerts
            if a.event == "failover_decided"
        }
        if not decided:
            return
        try:
            replies = await self._api("conversations_replies", channel=channel, ts=ts, limit=200)
            for message in (replies or {}).get("messages") or []:
                retired = slack_blocks.without_buttons(message, decided, max(a.at for a in batch.alerts))
                if retired is not None:
                    await self._paced(lambda m=message, r=retired: self._api("chat_update", gone=GONE, channel=channel, ts=m["ts"], **r))
        except NotifyError as exc:
            if "missing_scope" in str(exc):
                self.ctx.log.warning(
                    "slack %s: the buttons of a decided plan stay: reading the thread needs the scope channels:history "
                    "(groups:history in a private channel); add it under OAuth & Permissions and reinstall the app",
                    self.id,
                )
            else:
                self.ctx.log.warning("slack %s: could not take the buttons of a decided plan away: %s", self.id, exc)

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
            raise api_error(method.replace("_", "."), status, error, exc.response.headers, self.config.channel) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            what, permanent = outbound_failure(exc)
            raise NotifyError(f"cannot reach Slack: {what}" + ("" if permanent else "; will retry"), permanent=permanent) from None
        return response.data if isinstance(response.data, dict) else {}

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
        if response.status_code != 200:
            raise webhook_error(response.status_code, response.body, response.headers)

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


def build(id: str, config: Config, ctx: NotifierContext) -> SlackNotifier:
    """Build a Slack notifier from its validated options."""
    return SlackNotifier(id, config, ctx)


KIND = NotifierKind(Config, build, "Slack: a bot token (one message per incident, updated; details in its thread) or an incoming webhook")

__all__ = [
    "DEFAULT_BASE_URL",
    "GONE",
    "KIND",
    "PERMANENT",
    "WEBHOOK_5XX_RETRIES",
    "WEBHOOK_HOST",
    "WEBHOOK_PERMANENT",
    "Config",
    "SlackNotifier",
    "build",
    "retry_handlers",
]
