"""`run --role`: every role but all needs PostgreSQL, and says so in one line before starting anything."""

from __future__ import annotations

import pytest

from tests.support.cli import free_port, run_cli, write_allegro_config


@pytest.mark.parametrize("role", ["probe", "decide", "relay", "web"])
async def test_a_role_other_than_all_on_sqlite_stops_with_one_line(tmp_path, role):
    config = write_allegro_config(tmp_path, "http://127.0.0.1:9/")
    code, out, err = await run_cli("run", "--config", str(config), "--role", role, "--listen", f"127.0.0.1:{free_port()}")
    assert code == 2 and out == ""
    assert (
        err.strip().splitlines()[-1].startswith(f"channel-monitor: error: --role {role} needs PostgreSQL: set database_url: postgresql://")
    )
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "data").exists()  # nothing was started


async def test_the_role_key_is_checked_like_the_flag(tmp_path):
    config = write_allegro_config(tmp_path, "http://127.0.0.1:9/")
    config.write_text("role: decide\n" + config.read_text())
    code, _, err = await run_cli("run", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}")
    assert code == 2 and err.startswith("channel-monitor: error: role decide needs PostgreSQL"), err


async def test_demo_does_not_take_a_role():
    code, _, err = await run_cli("--role", "probe", "demo")
    assert code == 2 and "--role does not apply to `channel-monitor demo`" in err, err
