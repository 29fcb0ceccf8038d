"""Slack: the pure payload builders, then the notifier against a fake Slack on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from alerts import slack_blocks
from alerts.base import Alert, Batch, Delivery, NotifierContext, NotifyError, Thread
from alerts.slack import KIND, WEBHOOK_5XX_RETRIES, Config, SlackNotifier
from alerts.slack_blocks import escape, fit
from alerts.wording import Wording
from tests.fakes import LOOPBACK
from tests.fakes_slack import TOKEN, FakeSlack
from tests.support.probes import closed_port

T0 = 1633362000.0  # 2021-10-04 15:40 UTC: Facebook's DNS outage
WORDING = Wording()
SERVFAIL = "4 channels down: Facebook Shop, Instagram Shop, Messenger, WhatsApp Business — DNS resolvers failed to answer (SERVFAIL)"


def down(channel: str, name: str, host: str, at: float = T0) -> Alert:
    cause = {"check": "dns", "error_class": "dns_servfail", "error": f"SERVFAIL from 1.1.1.1 for {host}"}
    return Alert(channel, name, "up", "down", at, cause, key=f"down:{channel}:{int(at)}")


OUTAGE = (
    down("facebook_shop", "Facebook Shop", "facebook.com"),
    down("instagram_shop", "Instagram Shop", "instagram.com", T0 + 1),
    down("messenger", "Messenger", "messenger.com", T0 + 2),
    down("whatsapp", "WhatsApp Business", "whatsapp.com", T0 + 3),
)
RECOVERED = Alert(
    "facebook_shop", "Facebook Shop", "down", "up", T0 + 6 * 3600 + 60, {}, down_for=6 * 3600 + 60, key=f"down:facebook_shop:{int(T0)}"
)
HOSTILE = Alert(
    "evil",
    "Shop <!channel> & Co",
    "up",
    "down",
    T0,
    {"check": "http", "error_class": "http_status", "error": "HTTP 503: <https://evil.example|click here> <@U123> &amp;"},
)
FAILOVER = Alert(
    "summer_sale", "Summer sale", "", "", T0, event="failover_planned", detail="budget 70% Facebook Shop → 0%, Google Shopping 30% → 100%"
)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# Payload builders (pure).


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a & b", "a &amp; b"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://x|y>", "&lt;https://x|y&gt;"),
        ("&amp;", "&amp;amp;"),
        ("plain 'quotes' \"stay\"", "plain 'quotes' \"stay\""),
    ],
    ids=["ampersand", "mention", "link", "entity-text", "quotes-untouched"],
)
def test_escape_replaces_only_slack_control_characters(text: str, escaped: str) -> None:
    assert escape(text) == escaped


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcde…"),
        ("abc&amp;def", 6, "abc…"),
        ("abc&amp;def", 9, "abc&amp;…"),
    ],
    ids=["fits", "cut", "never-inside-entity", "after-entity"],
)
def test_fit_cuts_with_ellipsis_outside_entities(text: str, limit: int, cut: str) -> None:
    assert fit(text, limit) == cut


def test_2021_outage_is_one_message_with_the_common_cause() -> None:
    payload = slack_blocks.message(Batch(OUTAGE, "ops", "https://status.example.com/"), (), WORDING)
    header, section, context = payload["blocks"]
    assert payload["text"] == SERVFAIL
    assert header == {"type": "header", "text": {"type": "plain_text", "text": f":red_circle: {SERVFAIL}", "emoji": True}}
    assert section["text"]["text"].splitlines() == [
        "• Facebook Shop is down: DNS: SERVFAIL from 1.1.1.1 for facebook.com",
        "• Instagram Shop is down: DNS: SERVFAIL from 1.1.1.1 for instagram.com",
        "• Messenger is down: DNS: SERVFAIL from 1.1.1.1 for messenger.com",
        "• WhatsApp Business is down: DNS: SERVFAIL from 1.1.1.1 for whatsapp.com",
    ]
    assert context["elements"][0]["text"] == "2021-10-04 15:40 UTC · <https://status.example.com/|Status page>"


def test_updated_message_reads_back_up_with_the_newest_state_per_channel() -> None:
    payload = slack_blocks.message(Batch((RECOVERED,), "ops"), OUTAGE[:1], WORDING)
    assert payload["text"] == "Facebook Shop is back up after 6h 1m"
    assert payload["blocks"][0]["text"]["text"] == ":large_green_circle: Facebook Shop is back up after 6h 1m"
    assert payload["blocks"][1]["text"]["text"] == "• Facebook Shop is up again after 6h 1m down"
    assert payload["blocks"][2]["elements"][0]["text"] == "2021-10-04 21:41 UTC"  # no status page: no link


@pytest.mark.parametrize(
    "build",
    [
        lambda b: slack_blocks.message(b, (), WORDING),
        lambda b: slack_blocks.reply(b, WORDING),
        lambda b: slack_blocks.webhook_message(b, WORDING),
    ],
    ids=["message", "reply", "webhook"],
)
def test_hostile_alert_text_is_escaped_in_every_block(build: Callable[[Batch], dict[str, Any]]) -> None:
    payload = build(Batch((HOSTILE, OUTAGE[0]), "ops", "https://status.example.com/?a=1&b=2"))
    texts = list(strings(payload))
    for text in texts:
        text = text.replace("<https://status.example.com/?a=1&amp;b=2|Status page>", "")  # our own link
        assert "<" not in text and ">" not in text, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
    joined = "\n".join(texts)
    assert "Shop &lt;!channel&gt; &amp; Co" in joined
    assert "&lt;https://evil.example|click here&gt; &lt;@U123&gt; &amp;amp;" in joined


def test_message_lists_ten_lines_then_and_n_more() -> None:
    alerts = tuple(down(f"shop{i}", f"Shop {i}", f"shop{i}.example") for i in range(13))
    lines = slack_blocks.message(Batch(alerts, "ops"), (), WORDING)["blocks"][1]["text"]["text"].splitlines()
    assert len(lines) == 11 and lines[9].startswith("• Shop 9 is down") and lines[10] == "and 3 more"


def test_long_text_is_cut_to_slack_limits() -> None:
    long = Alert("big", "Big & " * 60, "up", "down", T0, {"check": "http", "error_class": "http_status", "error": "<x> " * 5000})
    alerts = tuple(Alert(f"c{i}", long.channel_name, "up", "down", T0, long.cause) for i in range(60))
    message = slack_blocks.message(Batch(alerts, "ops"), (), WORDING)
    header, section, _ = message["blocks"]
    assert len(header["text"]["text"]) <= 150 and header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000 and section["text"]["text"].endswith("and 50 more")
    assert len(message["text"]) <= 3000
    reply = slack_blocks.reply(Batch(alerts, "ops"), WORDING)
    assert all(len(b["text"]["text"]) <= 3000 for b in reply["blocks"])
    assert reply["blocks"][-1]["text"]["text"].endswith("and 20 more (the monitor's log has every alert)")
    for text in strings([message, reply]):
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)  # no entity cut in half


def test_reply_has_one_bullet_of_details_per_alert() -> None:
    text = slack_blocks.reply(Batch((OUTAGE[0], RECOVERED, FAILOVER), "ops"), WORDING)["blocks"][0]["text"]["text"]
    assert text.splitlines() == [
        "• Facebook Shop (facebook_shop): up → down · check dns · dns_servfail: SERVFAIL from 1.1.1.1 for facebook.com",
        "• Facebook Shop (facebook_shop): down → up · was down for 6h 1m",
        "• Failover: moving: Summer sale: budget 70% Facebook Shop → 0%, Google Shopping 30% → 100%",
    ]


def test_webhook_payload_is_the_message_of_the_batch() -> None:
    batch = Batch(OUTAGE, "ops", "https://status.example.com/")
    payload = slack_blocks.webhook_message(batch, WORDING)
    assert payload == slack_blocks.message(batch, (), WORDING)
    assert payload["text"] == SERVFAIL and [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]


# The notifier against FakeSlack.


@pytest.fixture
async def slack(aiohttp_server: Any) -> FakeSlack:
    fake = FakeSlack()
    server = await aiohttp_server(fake.app, access_log=None)  # the access log would print the webhook path
    fake.url = str(server.make_url("/"))
    return fake


@pytest.fixture
async def make(slack: FakeSlack) -> AsyncIterator[Callable[..., SlackNotifier]]:
    made: list[SlackNotifier] = []

    def make(**options: Any) -> SlackNotifier:
        if "webhook_url" not in options:
            options = {"token": TOKEN, "channel": "#ops", **options}
        config = Config(**{"base_url": f"{slack.url}api/", "min_interval": 0, "timeout": 5, **options})
        made.append(SlackNotifier("slack", config, NotifierContext(log=logging.getLogger("test.slack"), guard=LOOPBACK)))
        return made[-1]

    yield make
    for notifier in made:
        await notifier.close()


async def send(notifier: SlackNotifier, batch: Batch, thread: Thread | None = None) -> Delivery:
    return await asyncio.wait_for(notifier.send(batch, thread), 15)


async def test_first_batch_posts_one_message_and_one_thread_reply(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    delivery = await send(make(), Batch(OUTAGE, "ops"))
    [message] = slack.top_level()
    assert delivery.ref == f"C0OPS|{message.ts}"
    assert message.text == SERVFAIL and message.channel == "C0OPS"
    [reply] = slack.replies(message.ts)
    assert reply.text.startswith("• Facebook Shop (facebook_shop): up → down · check dns · dns_servfail")
    assert slack.count("chat.postMessage") == 2 and slack.count("chat.update") == 0


async def test_second_batch_updates_the_message_in_place_and_replies(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    notifier = make()
    first = await send(notifier, Batch(OUTAGE[:1], "ops"))
    assert first.ref is not None
    second = await send(notifier, Batch((RECOVERED,), "ops"), Thread(first.ref, OUTAGE[:1]))
    assert second.ref == first.ref
    [message] = slack.top_level()
    assert message.text == "Facebook Shop is back up after 6h 1m"
    assert [v["text"] for v in message.versions] == ["Facebook Shop is down — DNS: SERVFAIL from 1.1.1.1 for facebook.com"]
    assert [r.text for r in slack.replies(message.ts)][1] == "• Facebook Shop (facebook_shop): down → up · was down for 6h 1m"
    assert slack.count("chat.update") == 1 and slack.count("chat.postMessage") == 3


async def test_a_message_that_cannot_be_updated_is_posted_anew(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    delivery = await send(make(), Batch((RECOVERED,), "ops"), Thread("C0OPS|1600000000.000001", OUTAGE[:1]))
    [message] = slack.top_level()
    assert delivery.ref == f"C0OPS|{message.ts}" and message.text == "Facebook Shop is back up after 6h 1m"


async def test_429_waits_retry_after_and_delivers_once(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    slack.fail("chat.postMessage", FakeSlack.rate_limited(1))
    started = time.monotonic()
    await send(make(), Batch(OUTAGE, "ops"))
    assert 1.0 <= time.monotonic() - started < 5
    assert len(slack.top_level()) == 1 and slack.count("chat.postMessage") == 3


async def test_429_with_a_long_retry_after_goes_back_to_the_router(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    slack.fail("chat.postMessage", FakeSlack.rate_limited(120))
    with pytest.raises(NotifyError) as caught:
        await send(make(), Batch(OUTAGE, "ops"))
    assert (caught.value.permanent, caught.value.retry_after) == (False, 120)
    assert slack.count("chat.postMessage") == 1 and not slack.messages


async def test_server_error_then_ok_is_delivered_once(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    slack.fail("chat.postMessage", FakeSlack.http(500))
    await send(make(), Batch(OUTAGE, "ops"))
    assert len(slack.top_level()) == 1 and slack.count("chat.postMessage") == 3


async def test_server_errors_that_persist_are_temporary(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    slack.fail("chat.postMessage", *(FakeSlack.http(503) for _ in range(3)))
    with pytest.raises(NotifyError, match="will retry") as caught:
        await send(make(), Batch(OUTAGE, "ops"))
    assert not caught.value.permanent and slack.count("chat.postMessage") == 3 and not slack.messages


async def test_an_answer_that_is_not_slack_json_is_temporary(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    slack.fail("chat.postMessage", web.Response(text="<html>proxy login</html>", content_type="application/json"))
    with pytest.raises(NotifyError) as caught:
        await send(make(), Batch(OUTAGE, "ops"))
    assert str(caught.value) == "Slack chat.postMessage failed (a body that is not Slack's JSON); will retry"
    assert not caught.value.permanent and slack.count("chat.postMessage") == 1


async def test_a_failed_thread_reply_still_delivers_the_message(
    slack: FakeSlack, make: Callable[..., SlackNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", None, FakeSlack.error("fatal_error"))
    delivery = await send(make(), Batch(OUTAGE, "ops"))
    assert delivery.ref is not None and len(slack.messages) == 1
    assert "the alert went out but its thread reply did not: Slack chat.postMessage failed (fatal_error); will retry" in caplog.text


@pytest.mark.parametrize(
    ("options", "script", "fix"),
    [
        ({"channel": "#nope"}, None, "Slack finds no channel #nope (channel_not_found): set channel to the id"),
        ({"token": "xoxb-9999-wrong"}, None, "Slack rejected the bot token (invalid_auth): the app was uninstalled"),
        ({}, "not_in_channel", "the bot is not in #ops (not_in_channel): invite it there: /invite @channel-monitor"),
        ({}, "missing_scope", "the Slack app lacks the chat:write scope (missing_scope)"),
        ({}, "is_archived", "#ops is archived (is_archived): unarchive it"),
        ({}, "msg_too_long", "Slack refused this message (msg_too_long); retrying it cannot help, later messages are not affected"),
    ],
    ids=["channel_not_found", "invalid_auth", "not_in_channel", "missing_scope", "is_archived", "msg_too_long"],
)
async def test_permanent_errors_fail_after_one_request(
    slack: FakeSlack, make: Callable[..., SlackNotifier], options: dict[str, str], script: str | None, fix: str
) -> None:
    if script:
        slack.fail("chat.postMessage", FakeSlack.error(script))
    with pytest.raises(NotifyError) as caught:
        await send(make(**options), Batch(OUTAGE, "ops"))
    assert caught.value.permanent and str(caught.value).startswith(fix)
    assert slack.count("chat.postMessage") == 1


async def test_min_interval_spaces_messages_to_the_channel(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    notifier = make(min_interval=0.4)
    await asyncio.gather(send(notifier, Batch(OUTAGE[:1], "ops")), send(notifier, Batch(OUTAGE[1:2], "ops")))
    times = [c.at for c in slack.calls if c.method == "chat.postMessage"]
    assert len(times) == 4 and len(slack.top_level()) == 2
    assert all(b - a >= 0.39 for a, b in zip(times, times[1:])), times


def leaks(secret: str, exc: BaseException, caplog: pytest.LogCaptureFixture) -> list[str]:
    places = {"message": str(exc), "traceback": "".join(traceback.format_exception(exc)), "log": caplog.text}
    return [where for where, text in places.items() if secret in text]


async def test_the_token_never_appears_in_errors_or_logs(
    slack: FakeSlack, make: Callable[..., SlackNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "xoxb-9999-wrong-secret"
    cases = [
        (make(token=wrong), ()),  # invalid_auth
        (make(), (FakeSlack.rate_limited(1), FakeSlack.http(500), FakeSlack.http(500))),  # retried, then temporary
        (make(), (FakeSlack.rate_limited(120),)),
        (make(base_url=f"http://127.0.0.1:{closed_port()}/api/"), ()),
    ]
    for notifier, script in cases:
        slack.fail("chat.postMessage", *script)
        with pytest.raises(NotifyError) as caught:
            await send(notifier, Batch((HOSTILE,), "ops"))
        assert not leaks(wrong, caught.value, caplog) and not leaks(TOKEN, caught.value, caplog)
    assert not slack.script["chat.postMessage"] and not slack.messages


# Incoming webhook mode.


async def test_webhook_posts_once_per_batch(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    notifier = make(webhook_url=slack.webhook_url())
    assert not notifier.threads
    assert await send(notifier, Batch(OUTAGE, "ops")) == Delivery(ref=None)
    await send(notifier, Batch((RECOVERED,), "ops"))
    bodies = slack.webhooks["T0/B0/hooksecret123"]
    assert [b["text"] for b in bodies] == [SERVFAIL, "Facebook Shop is back up after 6h 1m"]
    assert bodies[0]["blocks"] == slack_blocks.webhook_message(Batch(OUTAGE, "ops"), WORDING)["blocks"]
    assert slack.count("webhook") == 2


@pytest.mark.parametrize(
    ("hook", "script", "fix"),
    [
        ("T0/B0/removed", None, "the incoming webhook no longer works (no_service): it was removed"),
        ("T0/B0/hooksecret123", FakeSlack.http(410, "channel_is_archived"), "the incoming webhook no longer works (channel_is_archived)"),
        ("T0/B0/hooksecret123", FakeSlack.http(403, "invalid_token"), "the incoming webhook no longer works (invalid_token)"),
        ("T0/B0/hooksecret123", FakeSlack.http(403, "action_prohibited"), "Slack refused the incoming webhook (action_prohibited)"),
        ("T0/B0/hooksecret123", FakeSlack.http(400, "invalid_payload"), "Slack refused this message (invalid_payload)"),
        ("T0/B0/hooksecret123", FakeSlack.http(404, "<html>gone</html>"), "the incoming webhook no longer works (HTTP 404)"),
    ],
    ids=["404-no_service", "410-archived", "403-invalid_token", "403-prohibited", "400-invalid_payload", "404-html"],
)
async def test_webhook_client_errors_are_permanent(
    slack: FakeSlack, make: Callable[..., SlackNotifier], hook: str, script: Any, fix: str
) -> None:
    if script is not None:
        slack.fail("webhook", script)
    with pytest.raises(NotifyError) as caught:
        await send(make(webhook_url=slack.webhook_url(hook)), Batch(OUTAGE, "ops"))
    assert caught.value.permanent and str(caught.value).startswith(fix)
    assert slack.count("webhook") == 1


async def test_webhook_server_error_then_ok_is_retried(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    slack.fail("webhook", FakeSlack.http(500))
    await send(make(webhook_url=slack.webhook_url()), Batch(OUTAGE, "ops"))
    assert slack.count("webhook") == 2 and len(slack.webhooks["T0/B0/hooksecret123"]) == 1


async def test_webhook_429_waits_and_a_long_one_returns_retry_after(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    notifier = make(webhook_url=slack.webhook_url())
    slack.fail("webhook", FakeSlack.rate_limited(1, webhook=True))
    await send(notifier, Batch(OUTAGE, "ops"))
    slack.fail("webhook", FakeSlack.rate_limited(90, webhook=True))
    with pytest.raises(NotifyError) as caught:
        await send(notifier, Batch(OUTAGE, "ops"))
    assert (caught.value.permanent, caught.value.retry_after) == (False, 90)
    assert slack.count("webhook") == 3 and len(slack.webhooks["T0/B0/hooksecret123"]) == 1


async def test_webhook_server_errors_are_tried_three_times_then_temporary(slack: FakeSlack, make: Callable[..., SlackNotifier]) -> None:
    # One owner of the 5xx retries: slack-sdk 3.48 started consulting its retry handlers on every status >= 400,
    # which multiplied our three attempts by three when a 5xx handler was passed to it.
    slack.fail("webhook", *(FakeSlack.http(503) for _ in range(12)))
    with pytest.raises(NotifyError) as caught:
        await send(make(webhook_url=slack.webhook_url()), Batch(OUTAGE, "ops"))
    assert (caught.value.permanent, str(caught.value)) == (False, "the Slack incoming webhook answered HTTP 503; will retry")
    assert slack.count("webhook") == WEBHOOK_5XX_RETRIES + 1 and not slack.webhooks["T0/B0/hooksecret123"]


@pytest.mark.parametrize(
    ("hook", "script", "permanent"),
    [
        ("T0/B0/removed", (), True),  # 404 no_service: the webhook was removed
        ("T0/B0/hooksecret123", (FakeSlack.http(403, "invalid_token"),), True),
        ("T0/B0/hooksecret123", (FakeSlack.rate_limited(1, webhook=True), *(FakeSlack.http(500) for _ in range(12))), False),
        (None, (), False),  # nothing listens at the webhook's address
    ],
    ids=["removed", "invalid-token", "rate-limited-then-5xx", "unreachable"],
)
async def test_an_unusable_webhook_fails_without_naming_the_secret(
    slack: FakeSlack,
    make: Callable[..., SlackNotifier],
    caplog: pytest.LogCaptureFixture,
    hook: str | None,
    script: tuple[Any, ...],
    permanent: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    if hook is None:
        port = closed_port()
        notifier = make(webhook_url=f"http://127.0.0.1:{port}/webhook/T0/B0/hooksecret123", base_url=f"http://127.0.0.1:{port}/api/")
    else:
        notifier = make(webhook_url=slack.webhook_url(hook))
    slack.fail("webhook", *script)
    with pytest.raises(NotifyError) as caught:
        await send(notifier, Batch((HOSTILE,), "ops"))
    assert caught.value.permanent is permanent
    assert not leaks("hooksecret123", caught.value, caplog) and not leaks("B0/removed", caught.value, caplog)
    assert not slack.webhooks["T0/B0/hooksecret123"], "a refused alert must not count as delivered"


# Options.


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"token": "xoxp-1-user-secret", "channel": "#ops"},
            "token must be a bot token starting with xoxb-, this is a user token; copy the Bot User OAuth Token from the "
            "Slack app's OAuth & Permissions page",
        ),
        (
            {"token": "https://hooks.slack.com/services/T/B/secret", "channel": "#ops"},
            "token must be a bot token starting with xoxb-, this is a URL (use webhook_url); copy the Bot User OAuth Token "
            "from the Slack app's OAuth & Permissions page",
        ),
        (
            {},
            "set either token (a bot: updates its messages, replies in threads) or webhook_url (an incoming webhook), exactly one of them",
        ),
        (
            {"token": "xoxb-1-secret", "webhook_url": "https://hooks.slack.com/services/T/B/secret", "channel": "#ops"},
            "set either token (a bot: updates its messages, replies in threads) or webhook_url (an incoming webhook), exactly one of them",
        ),
        ({"token": "xoxb-1-secret"}, "channel is required with token: the channel id (C0123ABCD) or #name to post in"),
        (
            {"token": "xoxb-1-secret", "channel": "ops team"},
            "'ops team' is not a Slack channel; write its id (C0123ABCD, shown at the bottom of the channel's details) or #name in lower case",
        ),
        (
            {"webhook_url": "https://hooks.slack.com/services/T/B/secret", "channel": "#ops"},
            "leave channel out with webhook_url: an incoming webhook posts to the channel chosen when it was added",
        ),
        (
            {"webhook_url": "https://evil.example/services/T/B/secret"},
            "webhook_url must be https://hooks.slack.com/services/... (the URL Slack shows for the incoming webhook); "
            "the value given is not (not shown: it is a secret)",
        ),
        (
            {"webhook_url": "http://127.0.0.1:9/hook/secret", "base_url": "http://127.0.0.1:8/api/"},
            "webhook_url must be on the base_url's server (http://127.0.0.1:8) when base_url is set; the value given is "
            "not (not shown: it is a secret)",
        ),
        (
            {"token": "xoxb-1-secret", "channel": "#ops", "base_url": "ftp://slack.example/"},
            "'ftp://slack.example/' is not an http(s) base URL; leave it out (Slack's is https://slack.com/api/)",
        ),
    ],
    ids=[
        "user-token",
        "url-as-token",
        "neither",
        "both",
        "no-channel",
        "bad-channel",
        "webhook-with-channel",
        "webhook-not-slack",
        "webhook-not-on-base_url",
        "bad-base_url",
    ],
)
def test_invalid_options_say_how_to_fix_them_and_hide_secrets(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Config(**options)
    assert [e["msg"].removeprefix("Value error, ") for e in caught.value.errors()] == [message]
    assert "secret" not in str(caught.value).replace("it is a secret", "")


def test_kind_builds_a_bot_or_a_webhook_notifier() -> None:
    ctx = NotifierContext(log=logging.getLogger("test.slack"))
    bot = KIND.build("ops", KIND.config.model_validate({"token": TOKEN, "channel": "C0OPS"}), ctx)
    hook = KIND.build("hook", KIND.config.model_validate({"webhook_url": "https://hooks.slack.com/services/T/B/x"}), ctx)
    assert (bot.id, bot.threads, hook.threads) == ("ops", True, False)
    assert json.dumps(KIND.config.model_validate({"token": TOKEN, "channel": "C0OPS"}).model_dump(mode="json")).count(TOKEN) == 0
