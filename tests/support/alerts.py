"""Alerts the tests share: a shop gone down, the four Meta channels of 4 October 2021, and an SMTP inbox for
aiosmtpd."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from alerts.base import Alert

# One channel down with an HTTP 503: what the notifiers' tests send when the alert itself does not matter.
SHOP_DOWN = Alert("shop", "Shop", "up", "down", 1.0, {"check": "home", "error_class": "http_status", "error": "HTTP 503"})


def meta_down(at: float = 100.0) -> list[Alert]:
    """The four Meta channels of 4 October 2021, down together with DNS SERVFAIL."""
    return [
        Alert(
            c,
            n,
            "up",
            "down",
            at,
            {"check": "dns", "error_class": "dns_servfail", "error": f"SERVFAIL from 127.0.0.1:53 for {d}"},
            key=f"down:{c}:{int(at)}",
        )
        for c, n, d in [
            ("facebook-shop", "Facebook Shop", "facebook.com"),
            ("instagram-shop", "Instagram Shop", "instagram.com"),
            ("messenger", "Messenger", "messenger.com"),
            ("whatsapp-business", "WhatsApp Business", "whatsapp.com"),
        ]
    ]


class Inbox:
    """An aiosmtpd handler keeping every accepted message; refuses recipients at nobody@."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@example.com>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content or b"", policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]
