"""E-mail notifier: one message per batch over SMTP, later batches of an incident as replies.

Replies carry In-Reply-To/References to the incident's first message, so mail clients show one
conversation per incident.
"""

from __future__ import annotations

import base64
import html
import re
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from pydantic import Field, SecretStr, field_validator, model_validator

from alerts.base import Batch, Delivery, Notifier, NotifierConfig, NotifierContext, NotifierKind, NotifyError, Thread
from alerts.wording import Wording
from probes.guard import BlockedDestination

_ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
MAX_SUBJECT = 250


def _address(value: str) -> str:
    _name, addr = parseaddr(value)
    # One "@" in the whole value: a list ("a@x, b@y") would otherwise parse as its first address.
    if value.count("@") != 1 or any(c in value for c in "\r\n\0") or not _ADDRESS.fullmatch(addr):
        raise ValueError(f"{value!r} is not an e-mail address; write e.g. alerts@example.com or 'Channel Monitor <alerts@example.com>'")
    return value


class Config(NotifierConfig):
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    to: list[str] = Field(min_length=1)
    timeout: float = Field(15, gt=0, le=120)  # seconds per SMTP step (connect, each command)
    subject_prefix: str = "[channel-monitor]"
    ca_file: str | None = None  # a CA bundle to trust instead of the system's (a private relay, tests)

    @model_validator(mode="before")
    @classmethod
    def _implicit_tls_port(cls, data: Any) -> Any:
        # Implicit TLS lives on 465; 587 would only fail the handshake on every retry.
        if isinstance(data, dict) and data.get("security") == "tls" and "port" not in data:
            return {**data, "port": 465}
        return data

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        if not host or any(c.isspace() for c in host) or "/" in host or "@" in host:
            raise ValueError(f"{host!r} is not a host name; write e.g. smtp.example.com")
        return host

    @field_validator("sender")
    @classmethod
    def _sender(cls, sender: str) -> str:
        return _address(sender)

    @field_validator("to")
    @classmethod
    def _to(cls, to: list[str]) -> list[str]:
        return [_address(a) for a in to]

    @field_validator("subject_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if any(c in prefix for c in "\r\n\0"):
            raise ValueError("subject_prefix contains a line break; write it on one line")
        return prefix

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, ca_file: str | None) -> str | None:
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"ca_file {ca_file!r} is not a file; give the path of a PEM CA bundle")
        return ca_file

    @model_validator(mode="after")
    def _login(self) -> Config:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password (password: ${SMTP_PASSWORD}), or neither")
        if self.password is not None and self.security == "none" and self.host not in _LOOPBACK:
            raise ValueError("security: none would send the SMTP password unencrypted; use starttls or tls")
        return self


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text[: MAX_SUBJECT - 1] + "…" if len(text) > MAX_SUBJECT else text


def message(config: Config, wording: Wording, batch: Batch, thread: Thread | None, now: float) -> EmailMessage:
    """The e-mail for batch: a reply under thread.ref when there is a thread. Pure but for the Message-ID."""
    title = wording.title(batch.alerts)
    subject = f"{config.subject_prefix} {title}".strip()
    if thread is not None:
        subject = "Re: " + f"{config.subject_prefix} {wording.title(thread.alerts + batch.alerts)}".strip()
    lines = [(_utc(a.at), wording.line(a)) for a in batch.alerts]
    text = [title, ""] + [f"{at}  {line}" for at, line in lines]
    if batch.status_url:
        text += ["", f"Status page: {batch.status_url}"]
    items = "".join(f"<li><b>{html.escape(at)}</b> {html.escape(line)}</li>" for at, line in lines)
    link = ""
    if batch.status_url:
        url = html.escape(batch.status_url)
        # Only http(s) becomes a link: anything else is shown as text.
        link = (
            f'<p><a href="{url}">Status page</a></p>'
            if batch.status_url.startswith(("https://", "http://"))
            else f"<p>Status page: {url}</p>"
        )
    page = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><h2>{html.escape(title)}</h2><ul>{items}</ul>{link}</body></html>'
    )

    msg = EmailMessage()
    msg["From"] = formataddr(parseaddr(config.sender))
    msg["To"] = ", ".join(formataddr(parseaddr(a)) for a in config.to)
    msg["Subject"] = _one_line(subject)
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    # The sender's domain, not this host's name (make_msgid's default): stable and reveals nothing.
    msg["Message-ID"] = make_msgid(domain=parseaddr(config.sender)[1].rpartition("@")[2])
    if thread is not None:
        msg["In-Reply-To"] = thread.ref
        msg["References"] = thread.ref
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to alerts
    msg.set_content("\n".join(text) + "\n")
    msg.add_alternative(page, subtype="html")
    return msg


class EmailNotifier(Notifier):
    threads = True

    def __init__(self, config: Config, ctx: NotifierContext, id: str = "email") -> None:
        self.id = id
        self.config = config
        self.ctx = ctx
        self.wording = Wording()
        self.tls = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None

    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        c = self.config
        msg = message(c, self.wording, batch, thread, self.ctx.clock())
        try:
            # Through the network guard like every outbound connection: the socket goes to a checked address.
            sock = await self.ctx.guard.connect(c.host, c.port, c.timeout)
            refused, _ = await aiosmtplib.send(
                msg,
                sender=parseaddr(c.sender)[1],
                recipients=[parseaddr(a)[1] for a in c.to],
                hostname=c.host,
                port=None,
                sock=sock,
                timeout=c.timeout,
                tls_context=self.tls,
                use_tls=c.security == "tls",
                start_tls=c.security == "starttls",
                username=c.username,
                password=c.password.get_secret_value() if c.password else None,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._error(exc) from None
        if refused:  # delivered to the others: retrying would send them a duplicate
            self.ctx.log.warning(
                "e-mail %s: the SMTP server refused %s", self.id, ", ".join(f"{r} ({e.code} {e.message})" for r, e in refused.items())
            )
        self.ctx.log.info("e-mail %s sent %s to %d recipient(s)", self.id, msg["Message-ID"], len(c.to) - len(refused))
        return Delivery(ref=thread.ref if thread is not None else str(msg["Message-ID"]))

    def _error(self, exc: Exception) -> NotifyError:
        where = f"SMTP server {self.config.host}:{self.config.port}"
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            said = "; ".join(f"{r.recipient}: {r.code} {self._scrub(r.message)}" for r in exc.recipients)
            return NotifyError(f"{where} refused every recipient: {said}", permanent=max(codes) >= 500)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            said = f"{exc.code} {self._scrub(exc.message)}"
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                what = f"refused the login of {self.config.username!r}; check username and password"
            elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
                what = f"refused the sender {exc.sender}"
            else:
                what = "answered"
            return NotifyError(f"{where} {what}: {said}", permanent=exc.code >= 500)
        if isinstance(exc, (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected)):
            return NotifyError(f"{where} unreachable: {type(exc).__name__}: {self._scrub(str(exc))}")
        if isinstance(exc, BlockedDestination):  # the config's to fix: allow_networks, or another host
            return NotifyError(f"{where}: not connecting: {exc}", permanent=True)
        if isinstance(exc, ssl.SSLCertVerificationError):  # may be a certificate about to be renewed: retry
            return NotifyError(f"{where}: TLS certificate not trusted: {exc.verify_message}")
        if isinstance(exc, OSError):
            return NotifyError(f"{where} unreachable: {type(exc).__name__}: {self._scrub(str(exc))}")
        # The server lacks STARTTLS or AUTH: the configuration has to change.
        return NotifyError(f"{where}: {self._scrub(str(exc)).rstrip('.')}; check security and port", permanent=True)

    def _scrub(self, text: str) -> str:
        """Remove the password, also as sent by AUTH PLAIN/LOGIN, from a server's words."""
        if self.config.password is None:
            return text
        password = self.config.password.get_secret_value()
        user = self.config.username or ""
        for form in (password, base64.b64encode(password.encode()).decode(), base64.b64encode(f"\0{user}\0{password}".encode()).decode()):
            text = text.replace(form, "***")
        return text


def build(id: str, config: Config, ctx: NotifierContext) -> EmailNotifier:
    return EmailNotifier(config, ctx, id)


KIND = NotifierKind(Config, build, "one e-mail per batch over SMTP, replies for later alerts of an incident")
