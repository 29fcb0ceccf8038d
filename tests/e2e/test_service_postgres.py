"""The service on PostgreSQL, as users run it: migrated at start, and state kept across SIGKILL."""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy import create_engine, text

from monitor.store.db import driver_url, head_revision
from tests.support.cli import Service, free_port, write_allegro_config


async def test_service_on_postgresql_migrates_at_start_and_resumes_after_sigkill(tmp_path, fake_channel, postgres_url):
    fake_channel.mode = "error"
    config = write_allegro_config(tmp_path, fake_channel.url)
    config.write_text(f"database_url: '{postgres_url}'\n" + config.read_text())
    db = create_engine(driver_url(postgres_url))

    def scalar(sql: str):
        with db.connect() as conn:
            return conn.execute(text(sql)).scalar()

    try:
        async with Service("--config", str(config), "--listen", f"127.0.0.1:{free_port()}") as svc:
            assert svc.first_line.startswith("Status page: ")
            assert scalar("SELECT version_num FROM alembic_version") == head_revision()
            for _ in range(200):
                if scalar("SELECT count(*) FROM incidents"):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            await svc.stop(signal.SIGKILL)
        kept = scalar("SELECT count(*) FROM probe_results")
        assert kept >= 2
        async with Service("--config", str(config), "--listen", f"127.0.0.1:{free_port()}") as svc:
            hits = fake_channel.hits
            while fake_channel.hits < hits + 5:
                await asyncio.sleep(0.05)
            code, err = await svc.stop()
        assert code == 0, err
        assert scalar("SELECT count(*) FROM incidents") == 1
        assert scalar("SELECT state FROM channel_states WHERE channel = 'allegro'") == "down"
        assert scalar("SELECT count(*) FROM probe_results") >= kept + 5
        assert not (tmp_path / "data").exists()  # nothing went to SQLite
    finally:
        db.dispose()
