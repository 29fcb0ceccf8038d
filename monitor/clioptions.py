"""Options a user may give before or after the command, and the database a command reads.

`channel-monitor --data-dir d failover status` and `channel-monitor failover status --data-dir d` mean the
same: the top-level parser takes every such option, each command declares those it uses (accept), and an
option given before a command that does not use it is refused (check) instead of being silently ignored.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from monitor.config import DEFAULT_DATA_DIR, Config
from monitor.core.redact import redact_url

OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "config": ("--config", {"metavar": "FILE", "help": "YAML config file"}),
    "data_dir": ("--data-dir", {"metavar": "DIR", "help": "where the SQLite database lives (default: the config's data_dir, else ./data)"}),
    "json": ("--json", {"action": "store_true", "help": "JSON for scripts"}),
    "listen": ("--listen", {"metavar": "HOST:PORT", "help": "address of the status page and API (default 127.0.0.1:8080)"}),
    "log_format": ("--log-format", {"choices": ("text", "json"), "help": "log line format (default text)"}),
    "location": (
        "--location",
        {
            "metavar": "NAME",
            "help": "where this instance probes from, stored with every result (default: the config's location, else local)",
        },
    ),
    "role": (
        "--role",
        {
            "choices": ("all", "probe", "decide", "relay", "web"),
            "help": "which part of the service to run (default: the config's role, else all; the others need PostgreSQL)",
        },
    ),
    "event_loop": (
        "--event-loop",
        {"choices": ("auto", "uvloop", "asyncio"), "help": "the service's event loop (default auto: uvloop when installed, else asyncio)"},
    ),
}


class UsageError(Exception):
    """The options ask for something that cannot be done as asked; the message says what to do instead."""


def accept(parser: argparse.ArgumentParser, *names: str, **helps: str) -> None:
    """Let the command take these options after its name too; an option not named here is refused before it."""
    for name in names:
        flag, kwargs = OPTIONS[name]
        # SUPPRESS: an option given before the command is not reset by the command's own default.
        parser.add_argument(flag, default=argparse.SUPPRESS, **{**kwargs, **({"help": helps[name]} if name in helps else {})})
    parser.set_defaults(accepted=frozenset(names))


def add_all(parser: argparse.ArgumentParser, accepted: tuple[str, ...]) -> None:
    """Give the top-level parser every option (so each can come before the command); without a command, `accepted`."""
    accept(parser, *OPTIONS)
    parser.set_defaults(accepted=frozenset(accepted))


def check(parser: argparse.ArgumentParser, args: argparse.Namespace, command: str) -> None:
    """Exit 2 naming an option given before a command that does not use it (it would be silently ignored)."""
    unused = [OPTIONS[name][0] for name in OPTIONS if name in vars(args) and name not in args.accepted]
    if unused:
        parser.error(f"{', '.join(unused)} does not apply to `channel-monitor {command}`")


def database(config: Config | None, data_dir: str | None) -> tuple[str, Path | None]:
    """The database a command reads: (URL, SQLite file or None for PostgreSQL).

    --data-dir replaces the config's data_dir (without a config: the demo's ./data). With a config that
    names a PostgreSQL database_url it is refused: the command would read that database, not the directory.
    """
    if config is not None and config.database_url:
        if data_dir is not None:
            raise UsageError(
                f"--data-dir {data_dir} names a SQLite directory, but the config uses database_url "
                f"{redact_url(config.database_url)}; leave out --data-dir"
            )
        return config.database_url, None
    path = Path(data_dir if data_dir is not None else config.data_dir if config else DEFAULT_DATA_DIR) / "channel-monitor.db"
    return f"sqlite:///{path}", path
