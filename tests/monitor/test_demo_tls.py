"""The demo's HTTPS shop: a certificate strict verification accepts, and a listener that goes away with the shop."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from monitor.demo import TLS_CHANNEL, DemoWorld
from monitor.demo_tls import VALID_DAYS, make_demo_tls


async def handshake(port: int, ca_file: str, server_name: str) -> dict:
    context = ssl.create_default_context(cafile=ca_file)
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default; 3.11 needs it asked for
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_name)
    cert = writer.get_extra_info("peercert")
    writer.close()
    await writer.wait_closed()
    return cert


async def test_the_demo_certificate_passes_strict_verification(tmp_path):
    server_context, ca_file = make_demo_tls("sklep.example", tmp_path)
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0, ssl=server_context)
    try:
        cert = await handshake(server.sockets[0].getsockname()[1], str(ca_file), "sklep.example")
    finally:
        server.close()
    days_left = (ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400
    assert VALID_DAYS - 1 < days_left <= VALID_DAYS
    assert oct((tmp_path / "demo-shop.key").stat().st_mode & 0o777) == "0o600"


async def test_an_unreachable_own_shop_closes_its_https_listener_too():
    world = DemoWorld()
    await world.start()
    try:
        port = world.tls_port
        await handshake(port, world.ca_file, "sklep.example")
        await world.set_mode(TLS_CHANNEL, "unreachable")
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        await world.set_mode(TLS_CHANNEL, "ok")
        assert world.tls_port == port  # the check's configured address works again
        await handshake(port, world.ca_file, "sklep.example")
    finally:
        await world.stop()


async def test_the_channel_page_and_api_show_when_the_certificate_expires(tmp_path, aiohttp_client):
    from monitor.app import create_app
    from monitor.running import MONITOR
    from tests.fakes import eventually

    world = DemoWorld()
    await world.start()
    config = world.config(interval="200ms", timeout="150ms").model_copy(update={"data_dir": str(tmp_path)})
    app = create_app(config, demo=world, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: (TLS_CHANNEL, "certificate") in app[MONITOR].pipeline.latest)
    channel = await (await client.get(f"/api/channels/{TLS_CHANNEL}")).json()
    [cert] = [c for c in channel["checks"] if c["id"] == "certificate"]
    days_left = (cert["cert_not_after"] - time.time()) / 86400
    assert VALID_DAYS - 1 < days_left <= VALID_DAYS
    assert all(c["cert_not_after"] is None for c in channel["checks"] if c["kind"] == "dns")
    page = await (await client.get(f"/channels/{TLS_CHANNEL}")).text()
    assert "<dt>Certificate</dt><dd>valid until" in page and f"{VALID_DAYS - 1} days left" in page
