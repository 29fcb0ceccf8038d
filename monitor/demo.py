"""Simulated sales channels on 127.0.0.1 for the zero-config first run.

Each channel listens on its own port, so "unreachable" is a real refused connection and a broken
channel never affects the others, and a simulated DNS server on loopback answers for its domain.
Modes: ok, dns (the resolver answers SERVFAIL, as for facebook.com on 4 October 2021), unreachable,
error (HTTP 503), maintenance (HTTP 200 with a "przerwa techniczna" page, the failure a status-code
check misses) and slow (never answers). The own shop also answers HTTPS, with a certificate from a CA
made at start, for its certificate check.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from monitor.config import Config, parse_config
from monitor.core.durations import format_duration
from monitor.demo_tls import make_demo_tls
from monitor.dnsserver import FakeDNSServer
from monitor.registries import Registries

MODES = ("ok", "dns", "unreachable", "error", "maintenance", "slow")
# The four Meta products that went dark together on 4 October 2021.
META_2021 = ("facebook-shop", "instagram-shop", "messenger", "whatsapp-business")


@dataclass(frozen=True, slots=True)
class DemoChannel:
    id: str
    name: str
    group: str
    domain: str  # answered only by the demo's own DNS server on loopback


DEMO_CHANNELS = (
    DemoChannel("own-shop", "Own shop", "own_shop", "sklep.example"),
    DemoChannel("allegro", "Allegro", "marketplace", "allegro.pl"),
    DemoChannel("amazon", "Amazon", "marketplace", "amazon.pl"),
    DemoChannel("ceneo", "Ceneo", "comparison", "ceneo.pl"),
    DemoChannel("facebook-shop", "Facebook Shop", "social", "facebook.com"),
    DemoChannel("instagram-shop", "Instagram Shop", "social", "instagram.com"),
    DemoChannel("messenger", "Messenger", "messaging", "messenger.com"),
    DemoChannel("whatsapp-business", "WhatsApp Business", "messaging", "whatsapp.com"),
)
_BY_ID = {c.id: c for c in DEMO_CHANNELS}
TLS_CHANNEL = "own-shop"  # the one demo channel with an HTTPS listener and a certificate check
# The demo's failover: a promotion spread over four channels, one whose buyers land on the own shop, and a
# customer notice, applied through the log actuator (nothing leaves the machine), fast enough to watch: break
# facebook-shop and its share moves 10 s after it is down (plus the 6 s settle window, in which channels failing
# together are gathered into one plan); heal it and it comes back 30 s (plus 6 s) after it is up again.
DEMO_TIMING = {"interval": 5.0, "timeout": 2.0, "hold_down": 10.0, "failback_after": 30.0, "settle": 6.0}
# CM_DEMO_SPEED=10 runs the demo ten times faster (checks, delays and the 2021 replay): for tests and a quick look.
SPEED_VARIABLE = "CM_DEMO_SPEED"
DEMO_FAILOVER_TEMPLATE = """show_failover: true
failover:
  timing: {timing}
  actuators:
    - {id: log, kind: log}
  promotions:
    - id: christmas-ads
      name: Christmas ads
      total: 500000
      unit: PLN
      mode: auto
      channels:
        facebook-shop: {share: 40, actuator: log, target: 'adset-1'}
        instagram-shop: {share: 25, actuator: log, target: 'adset-2'}
        allegro: {share: 20, actuator: log, target: 'allegro-ads'}
        own-shop: {share: 15, actuator: log, target: 'shop-banner'}
  notices:
    - id: whatsapp-down
      when_down: whatsapp-business
      post_on: [messenger, own-shop]
      actuator: log
      text: 'WhatsApp is down: write to us on Messenger or by e-mail'
      mode: auto
"""
# Ceneo's offers send buyers to the own shop: while the shop is failed over, that spend moves to Allegro.
DEMO_LANDS_ON = """    - id: comparison-ads
      name: Price comparison ads
      total: 100000
      unit: PLN
      mode: auto
      channels:
        ceneo: {share: 70, actuator: log, target: 'ceneo-cpc', lands_on: own-shop}
        allegro: {share: 30, actuator: log, target: 'allegro-sponsored'}
"""


def demo_failover(speed: float = 1.0) -> str:
    """The demo's failover section, its delays divided by `speed`."""
    t = {k: format_duration(v / speed) for k, v in DEMO_TIMING.items()}
    text = DEMO_FAILOVER_TEMPLATE.replace(
        "{timing}", f"{{hold_down: {t['hold_down']}, failback_after: {t['failback_after']}, settle: {t['settle']}}}"
    )
    return text.replace("  notices:\n", DEMO_LANDS_ON + "  notices:\n")


DEMO_FAILOVER = demo_failover()


def demo_speed(environ: Mapping[str, str]) -> float:
    """CM_DEMO_SPEED from the environment (1 when unset); a clear error for a value that is not a number >= 1."""
    raw = environ.get(SPEED_VARIABLE, "1")
    try:
        speed = float(raw)
    except ValueError:
        speed = 0.0
    if not 1 <= speed <= 100:
        raise ValueError(f"{SPEED_VARIABLE}={raw!r} is not a speed-up; use a number from 1 to 100 (e.g. 10), or unset it")
    return speed


class DemoWorld:
    """The simulated channels: their servers, their modes and the 2021 replay."""

    def __init__(self, host: str = "127.0.0.1", speed: float = 1.0) -> None:
        self.host = host
        self.speed = speed
        self.modes = {c.id: "ok" for c in DEMO_CHANNELS}
        self.ports: dict[str, int] = {}
        self.replay_until: float | None = None
        self._runners: dict[str, web.AppRunner] = {}
        self._sites: dict[str, web.TCPSite | None] = {}
        self._replay_task: asyncio.Task | None = None
        self.dns = FakeDNSServer(host)
        self._tls_dir: str | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._tls_site: web.TCPSite | None = None
        self.tls_port = 0
        self.ca_file = ""

    async def start(self) -> None:
        """Start the DNS server and one loopback web server per channel on a free port."""
        await self.dns.start()
        for channel in DEMO_CHANNELS:
            self.dns.answer(channel.domain, a=[self.host])
            app = web.Application()
            app.router.add_get("/", self._handler(channel))
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await runner.setup()
            self._runners[channel.id] = runner
            await self._open(channel.id)
        self._tls_dir = tempfile.mkdtemp(prefix="channel-monitor-demo-")
        context, ca_path = make_demo_tls(_BY_ID[TLS_CHANNEL].domain, Path(self._tls_dir))
        self.ca_file = str(ca_path)
        self._tls_context = context
        await self._open_tls()

    async def stop(self) -> None:
        """Stop every server and any replay in progress."""
        if self._replay_task:
            self._replay_task.cancel()
        for runner in self._runners.values():
            await runner.cleanup()
        await self.dns.close()
        if self._tls_dir:
            shutil.rmtree(self._tls_dir, ignore_errors=True)

    def config(self, registries: Registries | None = None, interval: str | None = None, timeout: str | None = None) -> Config:
        """The monitor configuration that watches these channels (checks every 5 s / speed, unless given)."""
        return parse_config(self.config_text(interval, timeout), registries, source="<built-in demo>")

    def config_text(self, interval: str | None = None, timeout: str | None = None) -> str:
        """The YAML of config(): for walkthroughs that add to it (examples/slack_approval_demo.py)."""
        interval = interval or format_duration(DEMO_TIMING["interval"] / self.speed)
        timeout = timeout or format_duration(DEMO_TIMING["timeout"] / self.speed)
        lines = [
            f"defaults: {{interval: {interval}, timeout: {timeout}}}",
            "allow_networks: ['127.0.0.0/8']  # the simulated channels live on loopback",
            "channels:",
        ]
        for c in DEMO_CHANNELS:
            lines += [
                f"  - {{id: {c.id}, name: '{c.name}', group: {c.group}, checks: [",
                f"      {{kind: dns, id: dns, target: '{c.domain}', resolvers: ['{self.dns.address}']}},",
                f"      {{kind: http, id: storefront, target: 'http://{self.host}:{self.ports[c.id]}/',",
                "       body_contains: ['Add to cart'], body_not_contains: ['przerwa techniczna', 'captcha']}"
                + (
                    f",\n      {{kind: tls, id: certificate, target: '{self.host}:{self.tls_port}', "
                    f"server_name: {c.domain}, ca_file: '{self.ca_file}'}}"
                    if c.id == TLS_CHANNEL
                    else ""
                )
                + "]}",
            ]
        return "\n".join(lines) + "\n" + demo_failover(self.speed)

    async def set_mode(self, channel: str, mode: str) -> None:
        """Break or heal one channel; raise KeyError/ValueError for unknown names."""
        if channel not in self.modes:
            raise KeyError(channel)
        if mode not in MODES:
            raise ValueError(mode)
        self.modes[channel] = mode
        domain = _BY_ID[channel].domain
        if mode == "dns":
            self.dns.fail(domain, "SERVFAIL")
        else:
            self.dns.answer(domain, a=[self.host])
        # The storefront checks use the shop's address directly, so in "dns" mode the web server
        # stays up and the DNS check alone explains the outage, as the alert should.
        if mode == "unreachable" and self._sites.get(channel):
            await self._sites[channel].stop()  # type: ignore[union-attr]
            self._sites[channel] = None
            if channel == TLS_CHANNEL and self._tls_site:  # the shop's HTTPS listener goes with it
                await self._tls_site.stop()
                self._tls_site = None
        elif mode != "unreachable" and self._sites.get(channel) is None:
            await self._open(channel)
            if channel == TLS_CHANNEL and self._tls_site is None:
                await self._open_tls()

    async def replay_2021(self, minutes: float) -> float:
        """Fail the four Meta channels together at the DNS level until `minutes` from now.

        A second replay extends the first; a channel broken by hand meanwhile is left as it is.
        """
        for channel in META_2021:
            await self.set_mode(channel, "dns")
        self.replay_until = time.time() + minutes * 60 / self.speed
        if self._replay_task is None or self._replay_task.done():
            self._replay_task = asyncio.create_task(self._end_replay())
        return self.replay_until

    async def _end_replay(self) -> None:
        # A loop, not one sleep: a second replay-2021 during this one moves replay_until later.
        while self.replay_until is not None and (left := self.replay_until - time.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(1.0, left))
        for channel in META_2021:
            if self.modes[channel] == "dns":
                await self.set_mode(channel, "ok")
        self.replay_until = None

    async def _open(self, channel: str) -> None:
        site = web.TCPSite(self._runners[channel], self.host, self.ports.get(channel, 0), reuse_address=True)
        await site.start()
        self.ports[channel] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._sites[channel] = site

    async def _open_tls(self) -> None:
        site = web.TCPSite(self._runners[TLS_CHANNEL], self.host, self.tls_port, ssl_context=self._tls_context, reuse_address=True)
        await site.start()
        self.tls_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._tls_site = site

    def _handler(self, channel: DemoChannel):
        async def handle(_request: web.Request) -> web.StreamResponse:
            mode = self.modes[channel.id]
            if mode == "error":
                return web.Response(status=503, text="503 Service Unavailable")
            if mode == "maintenance":
                return web.Response(text=f"<h1>{channel.name}: przerwa techniczna</h1>", content_type="text/html")
            if mode == "slow":
                await asyncio.sleep(3600)
            return web.Response(text=f"<h1>{channel.name}</h1><button>Add to cart</button>", content_type="text/html")

        return handle
