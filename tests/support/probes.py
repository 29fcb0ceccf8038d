"""Helpers for probe tests: checks built through parse_config (so their options are validated exactly as in
production), hand-written config text and its errors, closed ports, and loopback address/resolver fakes.

The fixtures that use them (http_session, probe_runner, run_check, start_server, raw_server) are in
tests/probes/conftest.py.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import yaml

from monitor.config import ConfigError, parse_config

# How the guard explains a refused loopback address.
BLOCKED_LOOPBACK = "is a private, loopback or reserved address (allow it with allow_networks)"


def build_check(
    target: str,
    *,
    kind: str = "http",
    channel_id: str = "shop",
    channel_name: str = "Shop",
    timeout: str = "2s",
    interval: str = "5s",
    **options: Any,
):
    """Return (channel, check) for one check of the given kind, validated by parse_config."""
    check = {"kind": kind, "target": target, "timeout": timeout, "interval": interval, **options}
    text = yaml.safe_dump({"channels": [{"id": channel_id, "name": channel_name, "checks": [check]}]}, sort_keys=False)
    channel = parse_config(text).channels[0]
    return channel, channel.checks[0]


def check_yaml(kind: str, target: str, **options: str) -> str:
    """The config text of one check in channel shop, written by hand so error line numbers are fixed.

    kind is on line 5, target on line 6 and the options (raw YAML values) from line 7 on.
    """
    lines = ["channels:", "  - id: shop", "    name: Shop", "    checks:", f"      - kind: {kind}", f"        target: {target}"]
    return "\n".join(lines + [f"        {key}: {value}" for key, value in options.items()]) + "\n"


def config_error(text: str) -> str:
    """The message of the ConfigError that parse_config raises for text."""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return str(info.value)


def closed_port() -> int:
    """A loopback port that was just bound and released: nothing listens there now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_resolver(monkeypatch, answer) -> list[tuple[str, int]]:
    """Replace the running loop's getaddrinfo; answer(host, port) returns addrinfo tuples or raises."""
    calls: list[tuple[str, int]] = []

    async def getaddrinfo(host, port, **_kwargs):
        calls.append((host, port))
        return await answer(host, port) if asyncio.iscoroutinefunction(answer) else answer(host, port)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    return calls


def v4(address: str, port: int) -> tuple:
    """An IPv4 TCP addrinfo tuple, as getaddrinfo returns it (for fake_resolver answers)."""
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
