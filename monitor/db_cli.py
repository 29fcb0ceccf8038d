"""`channel-monitor db upgrade`: bring the database schema up to this version's migrations."""

from __future__ import annotations

import argparse
import sys

from monitor import clioptions
from monitor.config import ConfigError, load_config
from monitor.core.redact import redact_url
from monitor.store.db import StoreError, ensure_data_dir, make_engine, upgrade_schema


def add_actions(parser: argparse.ArgumentParser) -> None:
    """Add the `db` command's actions."""
    actions = parser.add_subparsers(dest="action", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="run the schema migrations up to this version (the service also does it at start when that is safe)"
    )
    clioptions.accept(
        upgrade,
        "config",
        "data_dir",
        config="YAML config file: its database_url or data_dir names the database",
        data_dir="where the SQLite database lives (default ./data; overrides the config's data_dir)",
    )


def dispatch(args: argparse.Namespace) -> int:
    """Upgrade the database the config (or --data-dir) names; print what was done."""
    config = None
    if getattr(args, "config", None):
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    try:
        url, sqlite_path = clioptions.database(config, getattr(args, "data_dir", None))
    except clioptions.UsageError as exc:
        print(f"channel-monitor: error: {exc}", file=sys.stderr)
        return 2
    sqlite_dir = sqlite_path.parent if sqlite_path is not None else None
    try:
        if sqlite_dir is not None:
            ensure_data_dir(sqlite_dir)
        engine = make_engine(url, upgrade=False)
        try:
            result = upgrade_schema(engine, shown=redact_url(url), explicit=True)
        finally:
            engine.dispose()
    except StoreError as exc:
        print(f"channel-monitor: error: {exc}", file=sys.stderr)
        return 2
    print(f"{redact_url(url)}: {result.describe()}")
    return 0
