"""The CLI's side of the admin API: find the running service, send one authorised request, say what happened."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from monitor import clioptions
from monitor.config import ConfigError, load_config, parse_listen

TOKEN_ENV = "CM_ADMIN_TOKEN"


def add_options(parser: argparse.ArgumentParser, *also: str, by_required: bool = True) -> None:
    """--by, --config, --url and --token, shared by every admin command (plus `also` of clioptions')."""
    parser.add_argument("--by", required=by_required, help="who decides (recorded and logged)")
    clioptions.accept(parser, "config", *also, config="YAML config file: its listen address is the service's URL")
    parser.add_argument("--url", help="the running service (default: from the config, else http://127.0.0.1:8080)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"admin token (default: ${TOKEN_ENV})")


def call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any] | None:
    """Send the request; on failure print why (and the fix) and return None."""
    base = args.url
    if base is None and getattr(args, "config", None):
        try:
            host, port = parse_listen(load_config(args.config).listen)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return None
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"
    base = (base or "http://127.0.0.1:8080").rstrip("/")
    if not args.token:
        print(f"no admin token: export {TOKEN_ENV}=... (the service's admin_token) or pass --token", file=sys.stderr)
        return None
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json", "Authorization": f"Bearer {args.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        print(f"the service refused ({exc.code}): {exc.read().decode(errors='replace')}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the service at {base}: {getattr(exc, 'reason', exc)}; is it running? pass --url", file=sys.stderr)
    return None
