from __future__ import annotations

import pytest

from tests.fakes import FakeChannel


@pytest.fixture
async def fake_channel(aiohttp_server):
    channel = FakeChannel()
    server = await aiohttp_server(channel.app)
    channel.url = str(server.make_url("/"))
    return channel
