"""Checks shared by the two signed webhooks (the failover actuator and the alert notifier).

Each caller keeps its own wording (which example URL, which environment variable), so messages stay
specific to where the key is written.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from monitor.core.redact import url_origin
from monitor.core.signing import HEADER, TIMESTAMP_HEADER

# Headers a signed webhook sets itself; config `headers` may not replace them (the signature covers the body as sent).
RESERVED = frozenset(h.lower() for h in ("Content-Type", "Idempotency-Key", HEADER, TIMESTAMP_HEADER, "User-Agent"))


def check_url(url: str, example: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        # Scheme and host only: a webhook's path (and anything after it) can be its secret.
        shown = url_origin(url) if "://" in url else "the value given"
        raise ValueError(
            f"{shown} ... is not an http(s) URL (the rest is not shown: a webhook's path can be a secret); write e.g. {example}"
        )
    return url


def check_secret(secret: SecretStr, env_name: str) -> SecretStr:
    if len(secret.get_secret_value()) < 16:
        raise ValueError(
            "the signing secret must be at least 16 characters; generate one (openssl rand -hex 32) "
            f"and reference it from the environment: secret: ${{{env_name}}}"
        )
    return secret


def check_headers(headers: dict[str, str], who: str) -> dict[str, str]:
    for name, value in headers.items():
        if name.lower() in RESERVED:
            raise ValueError(f"header {name!r} is set by the {who} itself; remove it from headers")
        if any(c in name + value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} contains a line break; write it on one line")
    return headers


class SignedWebhookOptions(BaseModel):
    """url, secret, timeout and headers of a signed webhook; subclasses name their example and variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    EXAMPLE_URL: ClassVar[str] = "https://hooks.example.com/"
    SECRET_ENV: ClassVar[str] = "WEBHOOK_SECRET"
    WHO: ClassVar[str] = "webhook"

    url: str
    secret: SecretStr
    timeout: float = Field(10, gt=0, le=120)  # seconds for the whole request
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url, cls.EXAMPLE_URL)

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: SecretStr) -> SecretStr:
        return check_secret(secret, cls.SECRET_ENV)

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        return check_headers(headers, cls.WHO)
