"""deploy/compose.yaml as Docker would read it: every command is one `channel-monitor` accepts (Docker does not
run on the build machines; tests/distributed/test_quorum_cluster.py runs these commands as processes)."""

from __future__ import annotations

from collections import Counter

import yaml

from monitor.cli import build_parser
from tests.support import ROOT
from tests.support.cli import run_cli

COMPOSE = ROOT / "deploy" / "compose.yaml"


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_process_is_a_channel_monitor_command_with_its_role():
    roles: Counter[tuple[str, str | None]] = Counter()
    for name, service in services().items():
        if name == "postgres":
            continue
        args = build_parser().parse_args(service["command"])
        assert args.command == "run" and args.config == "/etc/channel-monitor.yaml", name
        roles[(args.role, getattr(args, "location", None))] += 1
    # Two locations with two probers each, a decider and a standby, a relay, a web instance.
    assert roles == Counter({("probe", "waw"): 2, ("probe", "fra"): 2, ("decide", None): 2, ("relay", None): 1, ("web", None): 1})


def test_the_processes_wait_for_a_healthy_database_and_check_their_own_health():
    for name, service in services().items():
        if name != "postgres":
            assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name
            assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
    assert "pg_isready" in services()["postgres"]["healthcheck"]["test"]


async def test_the_deploy_config_is_valid():
    code, out, err = await run_cli(
        "check-config", str(ROOT / "deploy" / "channels.yaml"), env={"CM_DB_PASSWORD": "pw", "CM_ADMIN_TOKEN": "t" * 24}
    )
    assert (code, err) == (0, ""), err
    assert "2 channels, 3 checks" in out
