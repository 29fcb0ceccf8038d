"""`channel-monitor override` and `channel-monitor maintenance`: the admin API from the command line."""
from __future__ import annotations

import argparse
import sys
import time
import urllib.parse

from monitor import admin_client


def add_commands(sub: argparse._SubParsersAction) -> None:
    override = sub.add_parser("override", help="force a channel down (planned shutdown: failover starts now) or up, "
                              "or --lift the override")
    override.add_argument("channel")
    what = override.add_mutually_exclusive_group(required=True)
    what.add_argument("--state", choices=("down", "up"))
    what.add_argument("--lift", action="store_true", help="let the checks decide again")
    override.add_argument("--reason", default="", help="why (required with --state)")
    override.add_argument("--expires-in", help="e.g. 2h; without it the override lasts until lifted")
    admin_client.add_options(override)
    window = sub.add_parser("maintenance", help="add a one-off maintenance window to a channel")
    window.add_argument("channel")
    window.add_argument("--duration", required=True, help="e.g. 1h")
    window.add_argument("--starts-in", help="e.g. 30m (default: now)")
    window.add_argument("--reason", required=True)
    admin_client.add_options(window)


def dispatch(args: argparse.Namespace) -> int:
    channel = urllib.parse.quote(args.channel, safe="")
    if args.command == "maintenance":
        body = {"by": args.by, "reason": args.reason, "duration": args.duration}
        if args.starts_in:
            body["starts_in"] = args.starts_in
        answer = admin_client.call(args, "POST", f"/api/admin/channels/{channel}/maintenance", body)
        if answer is None:
            return 2
        print(f"{args.channel}: maintenance from {_when(answer['start'])} to {_when(answer['end'])} ({args.reason}), "
              f"added by {args.by}")
        return 0
    if args.lift:
        answer = admin_client.call(args, "DELETE", f"/api/admin/channels/{channel}/override?by={urllib.parse.quote(args.by)}", None)
        if answer is None:
            return 2
        print(f"{args.channel}: override lifted by {args.by}; its checks decide again")
        return 0
    if not args.reason:
        print("say why with --reason (it is recorded with the state change)", file=sys.stderr)
        return 2
    body = {"state": args.state, "by": args.by, "reason": args.reason}
    if args.expires_in:
        body["expires_in"] = args.expires_in
    answer = admin_client.call(args, "PUT", f"/api/admin/channels/{channel}/override", body)
    if answer is None:
        return 2
    until = f" until {_when(answer['until'])}" if answer.get("until") else " until lifted"
    print(f"{args.channel}: forced {args.state} by {args.by}{until}")
    return 0


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
