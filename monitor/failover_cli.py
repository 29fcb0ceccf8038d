"""`channel-monitor plan` (what-if) and `channel-monitor failover status|approve|freeze|unfreeze`.

`plan` and `failover status` work without the service running: they read the config (the demo's when
none is given) and the database. approve/freeze/unfreeze go through the running service's admin API,
so that one place decides.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from monitor import admin_client
from monitor.config import Config, ConfigError, load_config
from monitor.demo import DEMO_CHANNELS, DEMO_FAILOVER
from monitor.failover.config import Failover
from monitor.failover.engine import FailoverEngine
from monitor.failover.plan import Standing, normal_amounts, plan
from monitor.failover.report import failover_summary
from monitor.report import print_table
from monitor.store.db import StoreError, make_engine
from probes import PROBES


def add_commands(sub: argparse._SubParsersAction) -> None:
    what_if = sub.add_parser("plan", help="what-if: print the allocation if these channels failed (changes nothing)")
    what_if.add_argument("--config", help="YAML config file (default: the built-in demo's promotions)")
    what_if.add_argument("--fail", action="append", default=[], metavar="CHANNEL", help="a failed channel (repeatable)")
    what_if.add_argument("--json", action="store_true")
    failover = sub.add_parser("failover", help="failover status, approvals and freezes")
    actions = failover.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="promotions, notices, and the latest plans with their actions")
    status.add_argument("--config", help="YAML config file (default: the demo, data in ./data)")
    status.add_argument("--plans", type=int, default=10, help="how many recent plans to show (default 10)")
    status.add_argument("--json", action="store_true")
    approve = actions.add_parser("approve", help="carry out a plan waiting for approval")
    approve.add_argument("plan", type=int)
    for name in ("freeze", "unfreeze"):
        effect = "no more moves" if name == "freeze" else "moves allowed again"
        p = actions.add_parser(name, help=f"{name} a promotion or notice ({effect})")
        p.add_argument("kind", choices=("promotion", "notice"))
        p.add_argument("id")
        p.add_argument("--reason", default="")
    for p in (approve, actions.choices["freeze"], actions.choices["unfreeze"]):
        admin_client.add_options(p)


def _load(path: str | None) -> tuple[Failover, list[str], Config | None]:
    if path is None:
        return (Failover.model_validate(yaml.safe_load(DEMO_FAILOVER)["failover"]), [c.id for c in DEMO_CHANNELS], None)
    config = load_config(path, PROBES)
    return config.failover, [c.id for c in config.channels], config


def what_if(args: argparse.Namespace) -> int:
    try:
        failover, channels, _ = _load(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    unknown = [c for c in args.fail if c not in channels]
    if unknown:
        print(f"not a channel: {', '.join(unknown)}; channels: {', '.join(channels)}", file=sys.stderr)
        return 2
    if not failover.promotions and not failover.notices:
        print("no promotions or notices in the config: add a failover section (see README, Failover)", file=sys.stderr)
        return 2
    standings = {c: Standing.FAILED if c in args.fail else Standing.ACTIVE for c in channels}
    out: dict[str, Any] = {"failed": args.fail, "promotions": [], "notices": []}
    for promotion in failover.promotions:
        normal, result = normal_amounts(promotion), plan(promotion, standings)
        out["promotions"].append({"id": promotion.id, "name": promotion.name, "unit": promotion.unit,
                                  "policy": promotion.policy, "normal": normal, "after": result.amounts,
                                  "unallocated": result.unallocated, "held": result.held})
    for notice in failover.notices:
        if notice.when_down in args.fail:
            out["notices"].append({"id": notice.id, "post_on": [c for c in notice.post_on if c not in args.fail],
                                   "text": notice.text})
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"What if {', '.join(args.fail) or 'nothing'} failed (nothing is changed):\n")
    for p in out["promotions"]:
        print(f"{p['name']} ({p['id']}, {p['policy']}, {p['unit']}):")
        print_table(["CHANNEL", "NOW", "AFTER", "CHANGE"],
                    [[c, _amount(n, p["unit"]), _amount(p["after"][c], p["unit"]), _change(n, p["after"][c], p["unit"])
                      + ("  (failed: paused)" if c in args.fail else "")] for c, n in p["normal"].items()])
        if p["held"]:
            print("  no healthy channel left: the last allocation would be kept, and you would be alerted")
        if p["unallocated"]:
            print(f"  {_amount(p['unallocated'], p['unit'])} could not be placed: every healthy channel is at its max")
        print()
    for n in out["notices"]:
        print(f"notice {n['id']} would be posted on {', '.join(n['post_on'])}: {n['text']}")
    return 0


def status(args: argparse.Namespace) -> int:
    try:
        failover, _channels, config = _load(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    url = config.db_url if config else f"sqlite:///{Path('data') / 'channel-monitor.db'}"
    if config is None and not (Path("data") / "channel-monitor.db").exists():
        print("no demo database in ./data: start `channel-monitor` first, or pass --config", file=sys.stderr)
        return 2
    try:
        engine = make_engine(url, upgrade=False)
        fe = FailoverEngine(failover, engine)
        fe.load(dt.datetime.now().timestamp(), write=False)
        summary = failover_summary(fe, plans=args.plans)
        engine.dispose()
    except (StoreError, Exception) as exc:  # a database that is not there yet, or not migrated
        print(f"cannot read failover state from the database: {exc}; has the service run with this config?", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"Failed over: {', '.join(summary['failed_over']) or 'none'}\n")
    rows = []
    for p in summary["promotions"]:
        flag = "FROZEN: " + p["reason"] if p["frozen"] else ("HELD: " + p["reason"] if p["held"] else "")
        if p["pending_plan"]:
            flag = f"waiting for approval (plan {p['pending_plan']})"
        for c, n in p["normal"].items():
            applied = p["applied"].get(c)
            rows.append([p["id"], p["mode"], c, _amount(n, p["unit"]), _amount(p["planned"].get(c, 0), p["unit"]),
                         "-" if applied is None else _amount(applied, p["unit"]), flag])
    if rows:
        print_table(["PROMOTION", "MODE", "CHANNEL", "NORMAL", "PLANNED", "APPLIED", "STATUS"], rows)
    for n in summary["notices"]:
        posted = [c for c, v in n["posted"].items() if v]
        print(f"notice {n['id']} ({n['mode']}): {'posted on ' + ', '.join(posted) if posted else 'not posted'}")
    if summary["plans"]:
        print("\nLatest plans:")
        print_table(["PLAN", "WHEN (UTC)", "FOR", "STATUS", "CHANGES", "ACTIONS"],
                    [[p["id"], _when(p["at"]), p["owner"], p["status"], _changes(p), _action_counts(p["actions"])]
                     for p in summary["plans"]], max_width=70)
    return 0


def admin(args: argparse.Namespace) -> int:
    if args.action == "approve":
        path, body = f"/api/admin/failover/plans/{args.plan}/approve", {"by": args.by}
    else:
        path = f"/api/admin/failover/{args.kind}s/{args.id}/{args.action}"
        body = {"by": args.by, "reason": args.reason}
    answer = admin_client.call(args, "POST", path, body)
    if answer is None:
        return 2
    if args.action == "approve":
        print(f"plan {args.plan} approved by {args.by}; the relay applies it now")
    else:
        print(f"{args.kind} {args.id} {'frozen' if answer['frozen'] else 'unfrozen'} by {args.by}")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "plan":
        return what_if(args)
    return status(args) if args.action == "status" else admin(args)


def _amount(value: int, unit: str) -> str:
    if unit == "weight":
        return f"{value:,}"
    return f"{value / 100:,.2f} {unit}"  # minor units: 2 decimals for PLN, EUR, USD


def _change(old: int, new: int, unit: str) -> str:
    if old == new:
        return ""
    return ("+" if new > old else "-") + _amount(abs(new - old), unit)


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _changes(plan_: dict) -> str:
    return ", ".join(f"{c} {plan_['before'].get(c, 0)}->{v}" for c, v in plan_["after"].items() if plan_["before"].get(c, 0) != v)


def _action_counts(actions: list[dict]) -> str:
    counts: dict[str, int] = {}
    for a in actions:
        counts[a["status"]] = counts.get(a["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "-"
