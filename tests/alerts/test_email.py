"""E-mail notifier against a real SMTP server (aiosmtpd) on 127.0.0.1: grouping, replies, TLS, login, failures."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import ValidationError

from alerts.base import Alert, Batch, NotifierContext, NotifyError, Thread
from alerts.email import KIND, Config, EmailNotifier
from tests.fakes import LOOPBACK
from tests.support.alerts import Inbox
from tests.support.cli import free_port

USER, PASSWORD = "alerts", "s3cret-Pa55word-4711"
WRONG = "wr0ng-Pa55word-0815"
NOW = 1_700_000_400.0
DNS = {"check": "home", "error_class": "dns_servfail", "error": "SERVFAIL from 127.0.0.1:53"}
DOWN = tuple(
    Alert(ch, ch.title(), "up", "down", 1_700_000_000.0 + i, DNS, key=f"down:{ch}:1700000000", id=i + 1)
    for i, ch in enumerate(["allegro", "amazon", "ebay", "shop"])
)
BACK = Alert("allegro", "Allegro", "down", "up", 1_700_000_300.0, {}, down_for=300.0, key="down:allegro:1700000000", id=5)
LOG = logging.getLogger("tests.alerts.email")


def header(msg: EmailMessage, name: str) -> str:
    """A header as a mail client shows it: unfolded, whitespace collapsed (Python folds long headers)."""
    return " ".join(str(msg[name]).split())


def authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Any) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def smtp() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Start aiosmtpd servers on 127.0.0.1 (plain, STARTTLS, implicit TLS, with login); stop them after the test."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Inbox, int]:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ready_timeout=5, **options)
        controller.start()
        controllers.append(controller)
        return inbox, controller.port

    yield start
    for controller in controllers:
        controller.stop()


def notifier(port: int, **options: Any) -> EmailNotifier:
    config = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Channel Monitor <alerts@example.com>",
        "to": ["ops@example.com"],
        "timeout": 5,
        **options,
    }
    return KIND.build("mail", KIND.config.model_validate(config), NotifierContext(LOG, clock=lambda: NOW, guard=LOOPBACK))


async def test_a_batch_of_four_down_alerts_is_one_email_with_the_grouped_subject(smtp):
    inbox, port = smtp()
    delivery = await notifier(port).send(Batch(DOWN, "mail", "https://status.example.com/"))
    [msg] = inbox.messages
    assert header(msg, "Subject") == "[channel-monitor] 4 channels down: Allegro, Amazon, Ebay, Shop — DNS: SERVFAIL from 127.0.0.1:53"
    assert msg["From"] == "Channel Monitor <alerts@example.com>" and msg["To"] == "ops@example.com"
    assert inbox.envelopes[0].mail_from == "alerts@example.com" and inbox.envelopes[0].rcpt_tos == ["ops@example.com"]
    assert delivery.ref == header(msg, "Message-ID") and delivery.ref.endswith("@example.com>")
    assert "In-Reply-To" not in msg
    text = msg.get_body(("plain",)).get_content()
    assert "2023-11-14 22:13:20 UTC  Allegro is down: DNS: SERVFAIL from 127.0.0.1:53" in text
    assert text.count(" is down: ") == 4 and "Status page: https://status.example.com/" in text
    assert '<a href="https://status.example.com/">' in msg.get_body(("html",)).get_content()


async def test_a_later_batch_of_the_incident_is_a_reply_in_the_same_conversation(smtp):
    inbox, port = smtp()
    mail = notifier(port)
    first = await mail.send(Batch(DOWN[:1], "mail"))
    assert first.ref is not None
    second = await mail.send(Batch((BACK,), "mail"), Thread(first.ref, DOWN[:1]))
    original, reply = inbox.messages
    assert second.ref == first.ref == header(original, "Message-ID")
    assert header(reply, "In-Reply-To") == header(reply, "References") == first.ref
    assert header(reply, "Message-ID") != first.ref
    assert header(original, "Subject") == "[channel-monitor] Allegro is down — DNS: SERVFAIL from 127.0.0.1:53"
    # The title over everything the conversation covers: Allegro went down and came back.
    assert header(reply, "Subject") == "Re: [channel-monitor] Allegro is back up after 5m 0s"
    assert "Allegro is up again after 5m 0s down" in reply.get_body(("plain",)).get_content()


async def test_starttls_and_login(smtp, server_tls, ca_file):
    inbox, port = smtp(tls_context=server_tls, require_starttls=True, authenticator=authenticator, auth_required=True)
    mail = notifier(port, security="starttls", username=USER, password=PASSWORD, ca_file=ca_file)
    await mail.send(Batch(DOWN, "mail"))
    assert len(inbox.messages) == 1


async def test_implicit_tls(smtp, server_tls, ca_file):
    inbox, port = smtp(ssl_context=server_tls)
    await notifier(port, security="tls", ca_file=ca_file).send(Batch(DOWN, "mail"))
    assert len(inbox.messages) == 1


async def test_an_untrusted_certificate_is_a_temporary_failure(smtp, server_tls):
    _, port = smtp(tls_context=server_tls, require_starttls=True)
    with pytest.raises(NotifyError) as caught:
        await notifier(port, security="starttls").send(Batch(DOWN, "mail"))  # the system CAs do not know trustme's
    assert not caught.value.permanent and "certificate" in str(caught.value).lower()


async def test_a_wrong_password_is_permanent_and_no_password_is_shown(smtp, server_tls, ca_file, caplog):
    inbox, port = smtp(tls_context=server_tls, require_starttls=True, authenticator=authenticator, auth_required=True)
    mail = notifier(port, security="starttls", username=USER, password=WRONG, ca_file=ca_file)
    with caplog.at_level(logging.DEBUG), pytest.raises(NotifyError) as caught:
        await mail.send(Batch(DOWN, "mail"))
    assert caught.value.permanent
    assert "refused the login of 'alerts'" in str(caught.value) and "535" in str(caught.value)
    for shown in (str(caught.value), repr(caught.value), repr(caught.value.__cause__), caplog.text, repr(mail.config)):
        assert WRONG not in shown and PASSWORD not in shown
    assert inbox.messages == []


async def test_a_closed_port_is_a_temporary_failure(caplog):
    with pytest.raises(NotifyError) as caught:
        await notifier(free_port(), security="starttls", username=USER, password=PASSWORD).send(Batch(DOWN, "mail"))
    assert not caught.value.permanent and "unreachable" in str(caught.value)
    assert PASSWORD not in str(caught.value) and PASSWORD not in caplog.text


async def test_a_refused_recipient_is_permanent(smtp):
    inbox, port = smtp()
    with pytest.raises(NotifyError) as caught:
        await notifier(port, to=["nobody@example.com"]).send(Batch(DOWN, "mail"))
    assert caught.value.permanent and "nobody@example.com: 550" in str(caught.value)
    assert inbox.messages == []


async def test_one_refused_recipient_of_two_still_delivers_to_the_other(smtp, caplog):
    inbox, port = smtp()
    await notifier(port, to=["ops@example.com", "nobody@example.com"]).send(Batch(DOWN, "mail"))
    assert inbox.envelopes[0].rcpt_tos == ["ops@example.com"]
    assert "refused nobody@example.com (550" in caplog.text


async def test_hostile_alert_text_is_escaped_in_the_html_part(smtp):
    inbox, port = smtp()
    evil = Alert(
        "x",
        '<script>alert("pwned")</script>',
        "up",
        "down",
        NOW,
        {"error_class": "http_status", "error": 'HTTP 503 <a href="javascript:alert(\'x\')">click</a> & "quotes"'},
        id=9,
    )
    await notifier(port).send(Batch((evil,), "mail", "javascript:alert(1)"))
    [msg] = inbox.messages
    page = msg.get_body(("html",)).get_content()
    assert "<script>" not in page and '<a href="javascript' not in page and 'href="javascript' not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "&lt;a href=&quot;javascript:alert(&#x27;x&#x27;)&quot;&gt;click&lt;/a&gt; &amp; &quot;quotes&quot;" in page
    assert "<p>Status page: javascript:alert(1)</p>" in page  # not a link
    assert '<script>alert("pwned")</script> is down' in msg.get_body(("plain",)).get_content()  # plain text stays plain


def test_config_validation():
    base = {"host": "smtp.example.com", "sender": "alerts@example.com", "to": ["ops@example.com"]}
    assert Config.model_validate(base).port == 587
    assert Config.model_validate({**base, "security": "tls"}).port == 465
    for bad, words in [
        ({"to": []}, "at least 1"),
        ({"to": ["a@x.com, b@y.com"]}, "is not an e-mail address"),
        ({"sender": "alerts"}, "is not an e-mail address"),
        ({"username": "u"}, "both username and password"),
        ({"sender": "a@example.com\r\nBcc: x@evil.com"}, "is not an e-mail address"),
        ({"security": "none", "username": "u", "password": PASSWORD}, "unencrypted"),
        ({"ca_file": "/nonexistent/ca.pem"}, "is not a file"),
    ]:
        with pytest.raises(ValidationError) as caught:
            Config.model_validate({**base, **bad})
        # What the config loader shows (monitor/config_errors.py): the message, not pydantic's input dump.
        [shown] = [str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"] for e in caught.value.errors()]
        assert words in shown and PASSWORD not in shown
