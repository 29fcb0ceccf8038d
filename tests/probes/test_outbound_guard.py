"""One network guard for every outbound connection: probes, notifiers and actuators, against the same list of
addresses (metadata, private, loopback in every spelling, a name resolving to loopback, redirects). A canary
listener on loopback counts connections: none may reach it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from alerts import NOTIFIERS
from alerts.base import Batch, NotifierContext, NotifyError
from monitor.core.http import USER_AGENT
from monitor.failover.actions import Action, ActionResult, ActuatorContext
from monitor.failover.actuators import ACTUATORS
from monitor.runner import run_probe
from probes import PROBES
from probes.guard import ALLOW_NOTHING, NetworkGuard
from probes.session import create_http_session, create_outbound_session
from tests.fakes import LOOPBACK
from tests.support.alerts import SHOP_DOWN
from tests.support.probes import build_check

LOG = logging.getLogger("test.guard")
SECRET = "a-long-signing-secret-0123456789"
# Where the canary listens, spelled every way an attacker (or a typo) might; plus addresses with no listener.
SPELLINGS = {
    "dotted": "127.0.0.1",
    "name": "localhost",
    "ipv4-mapped-v6": "[::ffff:127.0.0.1]",
    "short": "127.1",
    "decimal": "2130706433",
    "octal": "0177.0.0.1",
    "hex": "0x7f.0.0.1",
}
ELSEWHERE = {"metadata": "169.254.169.254", "link-local": "169.254.7.7", "private": "10.255.255.1"}


class Canary:
    """A TCP listener on 127.0.0.1 that counts every connection made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]


@pytest.fixture
async def canary():
    c = Canary()
    await c.start()
    yield c
    c.server.close()
    await c.server.wait_closed()


async def probe_http(base: str, guard: NetworkGuard) -> str:
    channel, check = build_check("http://shop.example/")
    check = dataclasses.replace(check, target=f"{base}/")  # past the config's own check of odd spellings
    async with create_http_session(USER_AGENT, guard) as http:
        outcome = await run_probe(PROBES["http"], channel, check, http, time.time, guard)
    return outcome.result.error_class or "ok"


async def notify(kind: str, options: dict[str, Any], guard: NetworkGuard) -> str:
    async with create_outbound_session(USER_AGENT, guard) as http:
        notifier = NOTIFIERS[kind].build("n", NOTIFIERS[kind].config.model_validate(options), NotifierContext(LOG, http=http, guard=guard))
        try:
            await asyncio.wait_for(notifier.send(Batch((SHOP_DOWN,), "n")), 15)
        except NotifyError as exc:
            return f"{'permanent' if exc.permanent else 'temporary'}: {exc}"
        finally:
            await notifier.close()
    return "sent"


async def act(kind: str, options: dict[str, Any], guard: NetworkGuard) -> str:
    action = Action(
        id=1,
        key="k-1",
        op="set_amount",
        promotion="ads",
        notice=None,
        channel="shop",
        target="123",
        value=100,
        expect=None,
        text=None,
        unit="PLN",
        attempt=1,
    )
    async with create_outbound_session(USER_AGENT, guard) as http:
        result: ActionResult = await asyncio.wait_for(
            ACTUATORS[kind].apply(action, ACTUATORS[kind].config.model_validate(options), ActuatorContext(http, LOG, time.time)), 15
        )
    return f"{result.outcome}: {result.detail}"


CLIENTS: dict[str, Callable[[str, NetworkGuard], Awaitable[str]]] = {
    "probe-http": probe_http,
    "notifier-webhook": lambda base, g: notify("webhook", {"url": f"{base}/hook/T0K3N", "secret": SECRET}, g),
    "notifier-slack": lambda base, g: notify("slack", {"token": "xoxb-1-abc", "channel": "#ops", "base_url": f"{base}/api/"}, g),
    "actuator-webhook": lambda base, g: act("webhook", {"url": f"{base}/failover/T0K3N", "secret": SECRET}, g),
    "actuator-meta_ads": lambda base, g: act("meta_ads", {"access_token": "tok-0123456789", "base_url": f"{base}/v21.0"}, g),
}


def refused(outcome: str) -> bool:
    """The outcome names the refusal (blocked, ambiguous spelling) and is final, not a retry."""
    return outcome == "blocked_destination" or (outcome.startswith(("permanent:", "failed:")) and "not connecting to" in outcome)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_no_client_reaches_loopback_in_any_spelling(canary, client, spelling):
    outcome = await CLIENTS[client](f"http://{SPELLINGS[spelling]}:{canary.port}", ALLOW_NOTHING)
    assert refused(outcome), outcome
    assert canary.connections == 0


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("where", ELSEWHERE)
async def test_metadata_link_local_and_private_addresses_are_refused_even_when_allowed(client, where):
    allowed = NetworkGuard(["10.0.0.0/8", "169.254.0.0/16"])  # metadata and link-local stay refused anyway
    outcome = await CLIENTS[client](f"http://{ELSEWHERE[where]}:9", ALLOW_NOTHING if where == "private" else allowed)
    assert refused(outcome), outcome


@pytest.mark.parametrize("client", [c for c in CLIENTS if c != "probe-http"])  # probes follow redirects, each hop checked
async def test_notifiers_and_actuators_follow_no_redirect(canary, aiohttp_server, client):
    app = web.Application()

    async def bounce(_request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{canary.port}/stolen")

    app.router.add_route("*", "/{tail:.*}", bounce)
    server = await aiohttp_server(app)
    outcome = await CLIENTS[client](f"http://127.0.0.1:{server.port}", LOOPBACK)  # the receiver is allowed
    assert outcome.startswith(("permanent:", "failed:")) and "redirect" in outcome, outcome
    assert canary.connections == 0


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_email_connects_only_through_the_guard(canary, spelling):
    host = SPELLINGS[spelling].strip("[]")
    outcome = await notify(
        "email",
        {"host": host, "port": canary.port, "security": "none", "timeout": 5, "sender": "alerts@shop.example", "to": ["ops@shop.example"]},
        ALLOW_NOTHING,
    )
    assert outcome.startswith("permanent:") and "not connecting" in outcome, outcome
    assert canary.connections == 0


@pytest.mark.parametrize("spelling", [s for s in SPELLINGS if s not in ("dotted", "name", "ipv4-mapped-v6")])
async def test_a_probe_redirected_to_an_odd_spelling_is_blocked_not_a_network_fault(canary, aiohttp_server, spelling):
    app = web.Application()

    async def bounce(_request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://{SPELLINGS[spelling]}:{canary.port}/")

    app.router.add_get("/", bounce)
    server = await aiohttp_server(app)
    assert await probe_http(f"http://127.0.0.1:{server.port}", LOOPBACK) == "blocked_destination"
    assert canary.connections == 0


def test_check_config_names_notifier_and_actuator_urls_the_guard_would_refuse():
    from monitor.config import ConfigError, parse_config

    text = """channels:
  - {id: shop, name: Shop, checks: [{kind: http, target: 'https://shop.example/'}]}
alerts:
  notifiers:
    - {id: hook, kind: webhook, url: 'http://169.254.169.254/latest/T0K3N', secret: 'a-long-secret-0123456789'}
    - {id: slack, kind: slack, token: 'xoxb-1-abc', channel: '#ops', base_url: 'http://10.0.0.5/api/'}
failover:
  actuators:
    - {id: fw, kind: webhook, url: 'http://127.1:9/T0K3N', secret: 'a-long-secret-0123456789'}
    - {id: meta, kind: meta_ads, access_token: 'tok-1234', base_url: 'http://localhost/v21.0'}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="c.yaml")
    add = (
        "add its network to allow_networks (e.g. allow_networks: [127.0.0.0/8] for a receiver on this machine, "
        "[10.0.0.0/8] for one on your network)"
    )
    assert str(caught.value).splitlines() == [
        "c.yaml:5: alerts.notifiers[0].url: http://169.254.169.254 would be refused: 169.254.169.254 is a cloud metadata "
        "address (always blocked); it is never allowed; use another address",
        f"c.yaml:6: alerts.notifiers[1].base_url: http://10.0.0.5 would be refused: 10.0.0.5 is a private, loopback or "
        f"reserved address; {add}",
        "c.yaml:9: failover.actuators[0].url: http://127.1:9 would be refused: '127.1' is an ambiguous spelling of an "
        "IPv4 address (127.0.0.1); write the address in dotted form",
        f"c.yaml:10: failover.actuators[1].base_url: http://localhost would be refused: localhost is a private, loopback "
        f"or reserved address; {add}",
    ]
    assert "T0K3N" not in str(caught.value)
    allowed = text.replace("channels:", "allow_networks: [127.0.0.0/8, 10.0.0.0/8]\nchannels:").replace("127.1", "127.0.0.1")
    with pytest.raises(ConfigError) as caught:
        parse_config(allowed, source="c.yaml")
    assert [line.split(":")[2] for line in str(caught.value).splitlines()] == [" alerts.notifiers[0].url"]


async def test_slack_ignores_an_https_proxy_from_the_environment(canary, monkeypatch):
    # Through a proxy the guard would see only the proxy's address, never the destination.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{canary.port}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{canary.port}")
    proxy_allowed = NetworkGuard(["127.0.0.1/32"])
    bot = await notify("slack", {"token": "xoxb-1-abc", "channel": "#ops", "base_url": "http://169.254.169.254/api/"}, proxy_allowed)
    hook = await notify("slack", {"webhook_url": "http://10.1.2.3/services/T0K3N", "base_url": "http://10.1.2.3/api/"}, proxy_allowed)
    assert refused(bot) and refused(hook), (bot, hook)
    assert canary.connections == 0


def test_check_config_judges_an_smtp_host_and_fullwidth_digits():
    from monitor.config import ConfigError, parse_config

    text = """channels:
  - {id: shop, name: Shop, checks: [{kind: http, target: 'https://shop.example/'}]}
alerts:
  notifiers:
    - {id: mail, kind: email, host: 169.254.169.254, sender: a@b.example, to: [c@d.example]}
    - {id: hook, kind: webhook, url: 'http://１２７.０.０.１:9/hook', secret: 'a-long-secret-0123456789'}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="c.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("c.yaml:5: alerts.notifiers[0].host: smtp://169.254.169.254 would be refused: ")
    assert lines[1].startswith("c.yaml:6: alerts.notifiers[1].url: ") and "127.0.0.1 is a private, loopback" in lines[1]
