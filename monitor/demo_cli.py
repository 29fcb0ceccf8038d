"""`channel-monitor demo break|heal|replay-2021|status`: talk to a running demo over HTTP."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from monitor import clioptions
from monitor.demo import DEMO_CHANNELS, MODES
from monitor.report import print_table


def add_actions(parser: argparse.ArgumentParser) -> None:
    """Add the optional control actions to the `demo` command."""
    actions = parser.add_subparsers(dest="action")
    brk = actions.add_parser("break", help="make a simulated channel fail")
    brk.add_argument("channel", choices=[c.id for c in DEMO_CHANNELS])
    brk.add_argument("--mode", default="error", choices=[m for m in MODES if m != "ok"], help="how it fails (default error: HTTP 503)")
    heal = actions.add_parser("heal", help="make a simulated channel (or --all) work again")
    heal.add_argument("channel", nargs="?", choices=[c.id for c in DEMO_CHANNELS])
    heal.add_argument("--all", action="store_true")
    replay = actions.add_parser("replay-2021", help="replay 4 Oct 2021: the four Meta channels fail together, then recover")
    replay.add_argument("--minutes", type=float, default=3.0, help="how long the outage lasts (default 3)")
    actions.add_parser("status", help="show each simulated channel's mode")
    for action in actions.choices.values():
        action.add_argument("--url", default="http://127.0.0.1:8080", help="the running demo (default http://127.0.0.1:8080)")
        clioptions.accept(action)  # none of --config, --data-dir, ...: it talks to the demo at --url


def dispatch(args: argparse.Namespace) -> int:
    """Run one control action against the running demo."""
    base = args.url.rstrip("/")
    try:
        if args.action == "break":
            _post(f"{base}/demo/channels/{args.channel}", {"mode": args.mode})
            print(f"{args.channel}: {args.mode}. The monitor marks it down after 3 failed checks (about 15 s).")
        elif args.action == "heal":
            if not args.all and not args.channel:
                print("name a channel to heal, or use --all", file=sys.stderr)
                return 2
            for channel in [c.id for c in DEMO_CHANNELS] if args.all else [args.channel]:
                _post(f"{base}/demo/channels/{channel}", {"mode": "ok"})
            print("healed. The monitor marks a channel up after 2 good checks.")
        elif args.action == "replay-2021":
            _post(f"{base}/demo/replay-2021", {"minutes": args.minutes})
            print(
                f"Replaying 4 October 2021: DNS answers SERVFAIL for Facebook Shop, Instagram Shop, Messenger "
                f"and WhatsApp Business for {args.minutes:g} minutes, then they recover. Watch {base}/"
            )
        else:
            state = _get(f"{base}/demo")
            print_table(["CHANNEL", "NAME", "MODE"], [[cid, state["channels"][cid], mode] for cid, mode in state["modes"].items()])
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        if exc.code == 404 and not detail.startswith("no demo channel"):
            detail = "there is no demo at this address (is it running with --config? the demo controls exist only in demo mode)"
        print(f"the demo refused: {detail}", file=sys.stderr)
        return 2
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"{base} did not answer like a channel-monitor demo ({exc}); check --url", file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"cannot reach the demo at {base}: {reason}; start it with `channel-monitor demo` or pass --url", file=sys.stderr)
        return 2
    return 0


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
