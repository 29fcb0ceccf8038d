"""The failover world of the service tests: three loopback shops, one promotion over them, a customer notice,
and a signed webhook receiver that applies what the service sends."""

from __future__ import annotations

from monitor.app import create_app
from monitor.running import MONITOR
from tests.fakes import FakeChannel, eventually, serve
from tests.support import config as cfg
from tests.support.receiver import Receiver

NORMAL = {"shop": 50000, "allegro": 30000, "facebook": 20000}
ADMIN_TOKEN = "test-admin-token-1234"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def failover_config(tmp_path, urls: dict[str, str], hook: str, *, mode: str = "auto", notice_mode: str = "auto", **timing: str):
    """The shops' config, with failover on Black Friday ads (immediate unless `timing` says otherwise); also
    written to tmp_path/channels.yaml, for the CLI."""
    options = dict(
        data_dir=tmp_path,
        show_failover=True,
        admin_token=ADMIN_TOKEN,
        failover=cfg.failover(
            hook,
            [cfg.promotion(NORMAL, total=100000, mode=mode)],
            notices=[cfg.notice("fb-down", "facebook", ["shop"], "Facebook is down: write to us on the shop chat", mode=notice_mode)],
            **timing,
        ),
    )
    channels = [cfg.channel(c, url) for c, url in urls.items()]
    cfg.write_config(tmp_path / "channels.yaml", channels, **options)
    return cfg.config(channels, **options)


async def shops_and_receiver(aiohttp_server) -> tuple[dict[str, FakeChannel], Receiver]:
    """A FakeChannel per shop of NORMAL and a Receiver holding NORMAL, all served on loopback."""
    fakes = {c: await serve(aiohttp_server, FakeChannel()) for c in NORMAL}
    receiver = Receiver(amounts={("ads", c): v for c, v in NORMAL.items()})
    receiver.url = str((await aiohttp_server(receiver.app)).make_url("/failover"))
    return fakes, receiver


async def start(tmp_path, aiohttp_server, aiohttp_client, *, clock=None, **kw):
    """The service over the failover world, every shop up: (app, client, fakes, receiver)."""
    fakes, receiver = await shops_and_receiver(aiohttp_server)
    config = failover_config(tmp_path, {c: f.url for c, f in fakes.items()}, receiver.url, **kw)
    app = create_app(config, flush_interval=0.05, **({"clock": clock} if clock is not None else {}))
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
    return app, client, fakes, receiver
