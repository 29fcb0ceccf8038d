"""HMAC-SHA256 signatures for outgoing failover webhooks (the Stripe scheme).

Every request carries

    X-Channel-Monitor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.".encode() + body)>

where `body` is the exact bytes of the request body. While a secret is being rotated a sender may
put several `v1=` entries in one header; a receiver accepts the request when any of them matches.

A receiver verifies before it parses anything:

    from monitor.core.signing import SignatureError, verify
    body = await request.read()                      # the raw bytes, not re-serialised JSON
    try:
        verify(secret, body, request.headers.get("X-Channel-Monitor-Signature", ""), now=time.time())
    except SignatureError as exc:
        return web.json_response({"error": str(exc)}, status=401)

verify() rejects a timestamp more than `tolerance` seconds old or in the future (a replayed or
held-back request), so the receiver's clock must be roughly right; then deduplicate on the
`Idempotency-Key` header, because a retried action is signed again with a new timestamp.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Channel-Monitor-Signature"
TIMESTAMP_HEADER = "X-Channel-Monitor-Timestamp"
SCHEME = "v1"


class SignatureError(ValueError):
    """The request's signature is missing, malformed, stale or wrong."""


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the signature header value for body sent at timestamp (unix seconds)."""
    return f"t={int(timestamp)},{SCHEME}={_digest(secret, body, int(timestamp))}"


def _parse(header: str) -> tuple[int, list[str]]:
    if not header or not header.strip():
        raise SignatureError(f"missing {HEADER} header")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not name:
            raise SignatureError(f"malformed {HEADER} header: expected t=<unix seconds>,{SCHEME}=<hex>")
        if name == "t":
            timestamps.append(value)
        elif name == SCHEME:
            signatures.append(value)
        # Other schemes (v0=, a future v2=) are ignored, as Stripe's receivers do.
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureError(f"malformed {HEADER} header: exactly one t=<unix seconds> is required")
    if not signatures:
        raise SignatureError(f"malformed {HEADER} header: no {SCHEME}= signature")
    return int(timestamps[0]), signatures


def verify(secret: str, body: bytes, header: str, now: float, tolerance: float = 300) -> None:
    """Raise SignatureError unless header is a fresh, matching signature of body under secret."""
    timestamp, signatures = _parse(header)
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(f"signature timestamp is {age:.0f} s old (tolerance {tolerance:.0f} s): replayed or delayed")
    if -age > tolerance:
        raise SignatureError(f"signature timestamp is {-age:.0f} s in the future (tolerance {tolerance:.0f} s): check the clocks")
    expected = _digest(secret, body, timestamp).encode()
    # Compare every candidate (no early exit on the first match) in constant time each.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in signatures]
    if not any(matches):
        raise SignatureError("signature does not match the body: wrong secret or altered body")
