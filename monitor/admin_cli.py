"""`channel-monitor override` and `channel-monitor maintenance`: the admin API from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse

from monitor import admin_client
from monitor.core.durations import format_duration
from monitor.report import print_table


def add_commands(sub: argparse._SubParsersAction) -> None:
    override = sub.add_parser("override", help="force a channel down (planned shutdown: failover starts now) or up, or --lift the override")
    override.add_argument("channel")
    what = override.add_mutually_exclusive_group(required=True)
    what.add_argument("--state", choices=("down", "up"))
    what.add_argument("--lift", action="store_true", help="let the checks decide again")
    override.add_argument("--reason", default="", help="why (required with --state)")
    override.add_argument("--expires-in", help="e.g. 2h; without it the override lasts until lifted")
    admin_client.add_options(override)
    window = sub.add_parser(
        "maintenance", help="add a one-off maintenance window to a channel (--duration), --list its windows, or --cancel one"
    )
    window.add_argument("channel")
    what = window.add_mutually_exclusive_group(required=True)
    what.add_argument("--duration", help="add a window this long, e.g. 1h")
    what.add_argument("--list", action="store_true", help="the channel's windows that have not ended, with their ids")
    what.add_argument("--cancel", type=int, metavar="ID", help="cancel the window with this id (see --list)")
    window.add_argument("--starts-in", help="e.g. 30m (default: now)")
    window.add_argument("--reason", default="", help="why (required with --duration)")
    admin_client.add_options(window, "json", by_required=False)


def dispatch(args: argparse.Namespace) -> int:
    channel = urllib.parse.quote(args.channel, safe="")
    if args.command == "maintenance":
        return _maintenance(args, channel)
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


def _maintenance(args: argparse.Namespace, channel: str) -> int:
    path = f"/api/admin/channels/{channel}/maintenance"
    if args.list:
        answer = admin_client.call(args, "GET", path, None)
        if answer is None:
            return 2
        if getattr(args, "json", False):
            print(json.dumps(answer, indent=2))
        elif not answer["windows"]:
            print(f"{args.channel}: no maintenance windows")
        else:
            print_table(
                ["ID", "FROM (UTC)", "TO (UTC)", "REASON", "BY"],
                [
                    [
                        w["id"] or "config",
                        _when(w["start"]) if w["start"] is not None else w["cron"],
                        _when(w["end"]) if w["end"] is not None else f"for {format_duration(w['duration'])} ({w['time_zone']})",
                        w["reason"],
                        w["by"] or "",
                    ]
                    for w in answer["windows"]
                ],
            )
        return 0
    if not args.by:
        print("say who decides with --by (it is recorded and logged)", file=sys.stderr)
        return 2
    if args.cancel is not None:
        answer = admin_client.call(args, "DELETE", f"{path}/{args.cancel}?by={urllib.parse.quote(args.by)}", None)
        if answer is None:
            return 2
        print(
            json.dumps(answer)
            if getattr(args, "json", False)
            else f"{args.channel}: maintenance window {args.cancel} cancelled by {args.by}; the channel is {answer['state']}"
        )
        return 0
    if not args.reason:
        print("say why with --reason (it is shown with the window)", file=sys.stderr)
        return 2
    body = {"by": args.by, "reason": args.reason, "duration": args.duration}
    if args.starts_in:
        body["starts_in"] = args.starts_in
    answer = admin_client.call(args, "POST", path, body)
    if answer is None:
        return 2
    print(
        json.dumps(answer)
        if getattr(args, "json", False)
        else f"{args.channel}: maintenance from {_when(answer['start'])} to {_when(answer['end'])} ({args.reason}), "
        f"added by {args.by} as window {answer['id']} (cancel it with --cancel {answer['id']})"
    )
    return 0


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
