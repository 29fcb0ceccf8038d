"""The Slack notifier's options: a bot token and a channel, or an incoming webhook URL (never both)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from alerts.base import NotifierConfig

DEFAULT_BASE_URL = "https://slack.com/api/"
WEBHOOK_HOST = "hooks.slack.com"
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}|#[a-z0-9][a-z0-9._-]{0,79}")
_APPROVER = re.compile(r"[UWS][A-Z0-9]{2,}")  # a user (U..., W... on Enterprise Grid) or a user group (S...)


class Config(NotifierConfig):
    """Slack: token + channel (a bot: threads, updates in place) or webhook_url (an incoming webhook)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a validation error must not echo a token

    token: SecretStr | None = None  # ${SLACK_BOT_TOKEN}: the app's Bot User OAuth Token, xoxb-...
    webhook_url: SecretStr | None = None  # ${SLACK_WEBHOOK_URL}: https://hooks.slack.com/services/...
    channel: str | None = None  # with token: a channel id (C0123ABCD) or #name
    # Web API base. Set to another server (a test fake, a proxy) and webhook_url must be on that server too.
    base_url: str = DEFAULT_BASE_URL
    min_interval: float = Field(1.0, ge=0, le=60)  # seconds between messages to the channel
    # Buttons on failover messages (approve a plan, freeze a promotion), clicked in Slack: the app's Signing
    # Secret (${SLACK_SIGNING_SECRET}) and who may click them (user ids U..., user group ids S...).
    signing_secret: SecretStr | None = None
    approvers: list[str] = []
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
        if self.signing_secret is not None:
            if self.token is None:
                raise ValueError("signing_secret needs token: buttons are posted and updated by a bot, not an incoming webhook")
            if not self.approvers:
                raise ValueError(
                    "approvers is required with signing_secret: the Slack user ids (U0123ABCD) or user group ids "
                    "(S0123ABCD) who may approve plans and freeze promotions from Slack"
                )
        elif self.approvers:
            raise ValueError("approvers needs signing_secret (the Slack app's Signing Secret): without it no click can be verified")
        for approver in self.approvers:
            if not _APPROVER.fullmatch(approver):
                raise ValueError(
                    f"{approver!r} in approvers is not a Slack user or user group id; write U0123ABCD (a member's id: "
                    "profile, More, Copy member ID) or S0123ABCD (a user group's id)"
                )
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
