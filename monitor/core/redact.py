"""Keep secrets out of what is printed: URL credentials and query strings, webhook paths, configured secrets."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, SecretStr

_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:@/]*)(?::[^@/]*)?@", re.I)


def redact_url(url: str) -> str:
    """'https://user:secret@host/x?token=1' -> 'https://user:***@host/x?***'; other text is unchanged."""
    redacted = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url, count=1)
    if "?" in redacted and "://" in redacted:
        redacted = redacted.split("?", 1)[0] + "?***"
    return redacted


def url_origin(url: str) -> str:
    """Only scheme, host and port: 'https://n8n.shop.example/webhook/T0K3N?x=1' -> 'https://n8n.shop.example'.

    What a page or a log may say about a webhook: Slack, Zapier and n8n put the token in the path."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def secret_values(options: BaseModel) -> tuple[str, ...]:
    """Every configured value of a notifier's or actuator's options that must never be shown, in every form a
    receiver may echo it: secrets (tokens, passwords, signing keys) and the words inside them ("Bearer tok"),
    header values (an X-Api-Key), the path of its URLs and each token-like segment of it, query values, URL
    user and password and their Basic form (base_url excepted: an API's base path is not a secret)."""
    found: list[str] = []
    for name in type(options).model_fields:
        value = getattr(options, name)
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(value, SecretStr):
            found += [raw, *_words(raw)]
        if name.endswith("url") and name != "base_url" and isinstance(raw, str):
            found += _url_secrets(raw)
        elif name == "headers" and isinstance(raw, dict):
            for header in raw.values():
                found += [str(header), *_words(str(header))]
    return tuple(sorted({v for v in found if len(v) >= 4 and v != "/"}, key=len, reverse=True))


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.path, parts.query]
    # A segment that looks like a token (a digit in it, or long): Slack's T../B../XXXX, n8n's webhook id.
    found += [s for s in parts.path.split("/") if len(s) >= 16 or (len(s) >= 6 and any(c.isdigit() for c in s))]
    found += [value for _key, value in parse_qsl(parts.query, keep_blank_values=False)]
    if parts.username or parts.password:
        found += [
            parts.username or "",
            parts.password or "",
            base64.b64encode(f"{parts.username or ''}:{parts.password or ''}".encode()).decode(),
        ]
    return found


def _words(value: str) -> list[str]:
    """The token-like parts of a value ('Bearer tok-123' -> 'tok-123'), which a receiver may quote alone."""
    return [w for w in re.split(r"[\s,;=]+", value) if len(w) >= 8]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text with every one of `secrets` replaced by ***: for anything a receiver answered, which may quote
    what it was sent (a 500 page echoing the X-Api-Key header)."""
    for secret in secrets:  # longest first (secret_values' order), so a part never leaves the rest showing
        text = text.replace(secret, "***")
    return text
