"""`channel-monitor db upgrade`: bring the database schema up to this version's migrations."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.config import ConfigError, load_config
from monitor.redact import redact_url
from monitor.store.db import StoreError, ensure_data_dir, make_engine, upgrade_schema
from probes import PROBES


def add_actions(parser: argparse.ArgumentParser) -> None:
    """Add the `db` command's actions."""
    actions = parser.add_subparsers(dest="action", required=True)
    upgrade = actions.add_parser("upgrade", help="run the schema migrations up to this version "
                                 "(the service also does it at start when that is safe)")
    upgrade.add_argument("--config", help="YAML config file: its database_url or data_dir names the database")
    upgrade.add_argument("--data-dir", default=argparse.SUPPRESS,
                         help="where the SQLite database lives (default ./data; overrides the config's data_dir)")


def dispatch(args: argparse.Namespace) -> int:
    """Upgrade the database the config (or --data-dir) names; print what was done."""
    data_dir = getattr(args, "data_dir", None)
    if args.config:
        try:
            config = load_config(args.config, PROBES)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        if data_dir:
            config = config.model_copy(update={"data_dir": data_dir})
        url, sqlite_dir = config.db_url, None if config.database_url else Path(config.data_dir)
    else:
        sqlite_dir = Path(data_dir or "data")
        url = f"sqlite:///{sqlite_dir / 'channel-monitor.db'}"
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
