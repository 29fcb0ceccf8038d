"""`channel-monitor plan` (what-if) and `channel-monitor failover status|approve|freeze|unfreeze`.

`plan` and `failover status` work without the service running: they read the config (the demo's when
none is given) and the database. approve/freeze/unfreeze go through the running service's admin API,
so that one place decides.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from monitor import admin_client, clioptions
from monitor.config import Config, ConfigError, load_config
from monitor.core.money import money
from monitor.core.redact import redact_url
from monitor.demo import DEMO_CHANNELS, DEMO_FAILOVER
from monitor.failover.actuators import ACTUATORS
from monitor.failover.config import Failover, Promotion
from monitor.failover.engine import FailoverEngine
from monitor.failover.plan import Standing, normal_amounts, placement_standings, plan
from monitor.failover.report import failover_summary
from monitor.failover.validate import validate_moves
from monitor.report import print_table
from monitor.store.db import make_engine


def add_commands(sub: argparse._SubParsersAction) -> None:
    what_if = sub.add_parser("plan", help="what-if: print the allocation if these channels failed (changes nothing)")
    clioptions.accept(
        what_if,
        "config",
        "data_dir",
        "json",
        config="YAML config file (default: the built-in demo's promotions)",
        data_dir="where the database with what is applied now lives (default: the config's data_dir, else ./data)",
    )
    what_if.add_argument("--fail", action="append", default=[], metavar="CHANNEL", help="a failed channel (repeatable)")
    what_if.add_argument(
        "--validate",
        action="store_true",
        help="also ask each actuator that has a validate-only mode (google_ads) whether it would accept the actions now",
    )
    failover = sub.add_parser("failover", help="failover status, approvals and freezes")
    actions = failover.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="promotions, notices, and the latest plans with their actions")
    clioptions.accept(status, "config", "data_dir", "json", config="YAML config file (default: the demo's)")
    status.add_argument("--plans", type=int, default=10, help="how many recent plans to show (default 10)")
    approve = actions.add_parser("approve", help="carry out a plan waiting for approval")
    approve.add_argument("plan", type=int)
    reject = actions.add_parser("reject", help="turn down a plan waiting for approval (nothing moves; not asked again for the same move)")
    reject.add_argument("plan", type=int)
    reject.add_argument("--reason", default="")
    for name in ("freeze", "unfreeze"):
        effect = "no more moves" if name == "freeze" else "moves allowed again"
        p = actions.add_parser(name, help=f"{name} a promotion or notice ({effect})")
        p.add_argument("kind", choices=("promotion", "notice"))
        p.add_argument("id")
        p.add_argument("--reason", default="")
    for p in (approve, reject, actions.choices["freeze"], actions.choices["unfreeze"]):
        admin_client.add_options(p)


class _Unreadable(Exception):
    """The database the command was asked to read cannot be read; the message names it and says why."""


def _load(args: argparse.Namespace) -> tuple[Failover, dict[str, str], Config | None, str, Path | None] | None:
    """The failover config, channel names by id, the config (None for the demo) and the database it names.

    None (after saying why) when the config or the options cannot be used.
    """
    path = getattr(args, "config", None)
    try:
        if path is None:
            failover = Failover.model_validate(yaml.safe_load(DEMO_FAILOVER)["failover"])
            names, config = {c.id: c.name for c in DEMO_CHANNELS}, None
        else:
            config = load_config(path)
            failover, names = config.failover, {c.id: c.name for c in config.channels}
        url, sqlite_path = clioptions.database(config, getattr(args, "data_dir", None))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None
    except clioptions.UsageError as exc:
        print(f"channel-monitor: error: {exc}", file=sys.stderr)
        return None
    return failover, names, config, url, sqlite_path


def _summary(failover: Failover, url: str, plans: int) -> dict[str, Any]:
    """failover_summary() of the stored state, read without writing anything."""
    try:
        engine = make_engine(url, upgrade=False)
        try:
            fe = FailoverEngine(failover, engine)
            fe.load(dt.datetime.now().timestamp(), write=False)
            return failover_summary(fe, plans=plans)
        finally:
            engine.dispose()
    except Exception as exc:  # not migrated, not channel-monitor's, a server that does not answer
        raise _Unreadable(
            f"cannot read failover state from {redact_url(url)}: {' '.join(str(exc).split())}; "
            "has the service run with this config (and --data-dir)?"
        ) from None


def what_if(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    failover, names, config, url, sqlite_path = loaded
    channels = list(names)
    unknown = [c for c in args.fail if c not in channels]
    if unknown:
        print(f"not a channel: {', '.join(unknown)}; channels: {', '.join(channels)}", file=sys.stderr)
        return 2
    if not failover.promotions and not failover.notices:
        print("no promotions or notices in the config: add a failover section (see README, Failover)", file=sys.stderr)
        return 2
    stored: dict[str, dict[str, Any]] = {}
    if sqlite_path is None or sqlite_path.exists():
        try:
            stored = {p["id"]: p for p in _summary(failover, url, plans=0)["promotions"]}
        except _Unreadable as exc:
            print(str(exc), file=sys.stderr)
            return 2
        source = f"NOW is what is applied (stored in {sqlite_path or redact_url(url)})"
    else:
        source = f"NOW is the normal allocation (nothing is stored in {sqlite_path} yet)"
    out = _what_if_plans(failover, channels, args.fail, stored)
    if getattr(args, "validate", False):
        if config is None:
            print("--validate needs --config: the demo's actuator only logs", file=sys.stderr)
            return 2
        promotions_by_id = {p.id: p for p in failover.promotions}
        for p in out["promotions"]:
            p["checks"] = asyncio.run(validate_moves(config, ACTUATORS, promotions_by_id[p["id"]], p["now"], p["after"]))
    if getattr(args, "json", False):
        print(json.dumps(out, indent=2))
        return 0
    print(f"What if {', '.join(args.fail) or 'nothing'} failed (nothing is changed):\n{source}.\n")
    promotions = {p.id: p for p in failover.promotions}
    for p in out["promotions"]:
        _print_what_if(p, promotions[p["id"]], args.fail)
    for n in out["notices"]:
        where = (
            f"would be posted on {', '.join(n['post_on'])}"
            if n["post_on"]
            else "would not be posted (every channel it posts on failed too)"
        )
        print(f"notice {n['id']} {where}: {n['text']}")
    return 0


def _what_if_plans(failover: Failover, channels: list[str], failed: list[str], stored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The plans the engine would make with these channels failed, from what is applied now (or the normal)."""
    standings = {c: Standing.FAILED if c in failed else Standing.ACTIVE for c in channels}
    out: dict[str, Any] = {"failed": failed, "promotions": [], "notices": []}
    for promotion in failover.promotions:
        normal, saved = normal_amounts(promotion), stored.get(promotion.id)
        # As the engine plans: per placement (an ad whose buyers land on a failed channel fails with it), from
        # what is planned now.
        planned = {c: saved["planned"].get(c, n) for c, n in normal.items()} if saved else normal
        result = plan(promotion, placement_standings(promotion, standings), planned)
        now = _now(normal, saved, dry_run=promotion.mode == "dry-run")
        out["promotions"].append(
            {
                "id": promotion.id,
                "name": promotion.name,
                "unit": promotion.unit,
                "policy": promotion.policy,
                "normal": normal,
                "now": now,
                # held: nowhere healthy to move to, so the allocation of now is kept
                "after": dict(now) if result.held else result.amounts,
                "unallocated": result.unallocated,
                "held": result.held,
            }
        )
    for notice in failover.notices:
        if notice.when_down in failed:
            out["notices"].append({"id": notice.id, "post_on": [c for c in notice.post_on if c not in failed], "text": notice.text})
    return out


def _print_what_if(p: dict[str, Any], promotion: Promotion, failed: list[str]) -> None:
    """One promotion's what-if as a table: now, after, and why a failed channel's row reads as it does."""
    print(f"{p['name']} ({p['id']}, {p['policy']}, {p['unit']}):")
    rows = []
    lands = {c: placement.lands_on for c, placement in promotion.channels.items()}
    for c, now in p["now"].items():
        after = p["after"][c]
        note = ("  (failed: paused)" if after == 0 else "  (failed: keeps it)") if c in failed else ""
        if not note and lands[c] in failed:
            note = f"  (buyers land on {lands[c]}: {'paused' if after == 0 else 'keeps it'})"
        rows.append([c, money(now, p["unit"]), money(after, p["unit"]), (_change(now, after, p["unit"]) + note).strip()])
    print_table(["CHANNEL", "NOW", "AFTER", "CHANGE"], rows)
    if "checks" in p:
        if p["checks"]:
            print("  would the channels accept it now (validate-only, nothing changed):")
            print_table(
                ["CHANNEL", "ACTION", "ACTUATOR", "VERDICT", "DETAIL"],
                [[c["channel"], c["action"], c["actuator"], c["verdict"], c["detail"]] for c in p["checks"]],
            )
        else:
            print("  nothing to send: no channel's amount would change")
    if p["held"]:
        print("  no healthy channel left: the allocation of now would be kept, and you would be alerted")
    if p["unallocated"]:
        print(f"  {money(p['unallocated'], p['unit'])} could not be placed: every healthy channel is at its max")
    print()


def _now(normal: dict[str, int], stored: dict[str, Any] | None, *, dry_run: bool = False) -> dict[str, int]:
    """What each channel holds now: the applied value, else the planned one, else (nothing stored) the normal one.

    A dry-run promotion's planned values were never sent: without an applied value it holds its normal amount.
    """
    if stored is None:
        return dict(normal)
    planned = {} if dry_run else stored["planned"]
    return {c: next(v for v in (stored["applied"].get(c), planned.get(c), n) if v is not None) for c, n in normal.items()}


def status(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 2
    failover, names, config, url, sqlite_path = loaded
    if sqlite_path is not None and not sqlite_path.exists():
        started = "the service with this config" if config else "the demo (`channel-monitor`)"
        print(f"no database at {sqlite_path}: start {started} first, or pass the --config or --data-dir it runs with", file=sys.stderr)
        return 2
    try:
        summary = _summary(failover, url, args.plans)
    except _Unreadable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2))
        return 0
    print(f"Failed over: {', '.join(summary['failed_over']) or 'none'}\n")
    rows = []
    for p in summary["promotions"]:
        flag = "FROZEN: " + p["reason"] if p["frozen"] else ("HELD: " + p["reason"] if p["held"] else "")
        if p["pending_plan"]:
            flag = f"waiting for approval (plan {p['pending_plan']})"
        for c, n in p["normal"].items():
            rows.append(
                [
                    p["id"],
                    p["mode"],
                    c,
                    money(n, p["unit"]),
                    money(p["planned"].get(c, 0), p["unit"]),
                    money(p["applied"].get(c), p["unit"]),
                    flag,
                ]
            )
    if rows:
        print_table(["PROMOTION", "MODE", "CHANNEL", "NORMAL", "PLANNED", "APPLIED", "STATUS"], rows)
    for n in summary["notices"]:
        posted = [c for c, v in n["posted"].items() if v]
        print(f"notice {n['id']} ({n['mode']}): {'posted on ' + ', '.join(posted) if posted else 'not posted'}")
    if summary["plans"]:
        print("\nLatest plans:")
        print_table(
            ["PLAN", "WHEN (UTC)", "FOR", "STATUS", "CHANGES", "ACTIONS"],
            [
                [p["id"], _when(p["at"]), p["owner"], p["status"], _changes(p, names), _action_counts(p["actions"])]
                for p in summary["plans"]
            ],
            max_width=70,
        )
    return 0


def admin(args: argparse.Namespace) -> int:
    if args.action == "approve":
        path, body = f"/api/admin/failover/plans/{args.plan}/approve", {"by": args.by}
    elif args.action == "reject":
        path, body = f"/api/admin/failover/plans/{args.plan}/reject", {"by": args.by, "reason": args.reason}
    else:
        path = f"/api/admin/failover/{args.kind}s/{args.id}/{args.action}"
        body = {"by": args.by, "reason": args.reason}
    answer = admin_client.call(args, "POST", path, body)
    if answer is None:
        return 2
    if args.action == "approve":
        print(f"plan {args.plan} approved by {args.by}; the relay applies it now")
    elif args.action == "reject":
        print(f"plan {args.plan} rejected by {args.by}; nothing moves, and the same move is not asked for again")
    else:
        print(f"{args.kind} {args.id} {'frozen' if answer['frozen'] else 'unfrozen'} by {args.by}")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "plan":
        return what_if(args)
    return status(args) if args.action == "status" else admin(args)


def _change(old: int, new: int, unit: str) -> str:
    if old == new:
        return ""
    return ("+" if new > old else "-") + money(abs(new - old), unit)


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _changes(plan_: dict, names: dict[str, str]) -> str:
    """What a plan changes, for people: 'Allegro 300.00 PLN -> 375.00 PLN', or 'post on Messenger' for a notice."""
    changed = [(names.get(c, c), plan_["before"].get(c, 0), v) for c, v in plan_["after"].items() if plan_["before"].get(c, 0) != v]
    if plan_["kind"] == "notice":
        return ", ".join(f"post on {name}" if v else f"withdraw from {name}" for name, _, v in changed)
    unit = plan_["unit"] or "weight"  # a promotion no longer in the config: its unit is unknown, plain numbers
    return ", ".join(f"{name} {money(old, unit)} -> {money(new, unit)}" for name, old, new in changed)


def _action_counts(actions: list[dict]) -> str:
    counts: dict[str, int] = {}
    for a in actions:
        counts[a["status"]] = counts.get(a["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "-"
