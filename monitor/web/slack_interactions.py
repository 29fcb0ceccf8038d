"""POST /slack/interactions: Slack's interactivity URL, where clicks on failover messages' buttons arrive.

Verified, read and authorized by monitor/web/slack_click.py; carried out through the admin actions (the decider's own,
or on a web instance a command the decider carries out: monitor/commands.py), then answered through the click's
response_url: the message loses its buttons and says who decided and when, or the clicker alone reads why not.
Slack wants a 200 within 3 seconds whatever happens; a request that is not a verified click gets 401.
"""

from __future__ import annotations

import logging

from aiohttp import web

from monitor.web.keys import ADMIN, READ_MODEL
from monitor.web.read_model import AdminUnavailable, ReadModel, UnknownPlan
from monitor.web.slack_click import Click, Refused, allowed, decided, ephemeral, not_allowed, parse, verify

log = logging.getLogger("monitor.admin")
MAX_BODY = 64 * 1024  # a click's form is a few KB: the message it is on included


async def interactions(request: web.Request) -> web.Response:
    """POST /slack/interactions: a verified click on Approve, Reject or Freeze, from an approver, once."""
    model = request.app[READ_MODEL]
    settings = model.slack_approvals()
    if settings is None:
        raise web.HTTPNotFound(text="Slack buttons are off: set signing_secret and approvers on the slack notifier")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
    now = model.now()
    try:
        verify(settings.signing_secret, body, request.headers, now)
        click = parse(body)
    except Refused as exc:
        log.warning("slack click refused: %s", exc)
        raise web.HTTPUnauthorized(text=str(exc)) from None
    if not await model.first_click(click.key):
        log.warning("slack click %s by %s seen before (a replay or Slack's retry): nothing done again", click.action, click.user)
        return web.Response(text="")
    groups = {}
    if click.user not in settings.approvers:
        groups = {g: await model.slack_group_members(g) for g in settings.approvers if g.startswith("S")}
    if not allowed(click.user, list(settings.approvers), groups):
        log.warning(
            "slack click %s on %s by %s (%s): not an approver, nothing done", click.action, click.owner, click.user_name, click.user
        )
        await _respond(model, click, not_allowed(click))
        return web.Response(text="")
    by = f"{click.user_name} (Slack {click.user})"[:100]
    try:
        outcome = await (_freeze(request, click, by) if click.action == "cm_freeze" else _decide(request, model, click, by))
    except (LookupError, AdminUnavailable) as exc:  # UnknownPlan is a LookupError
        await _respond(model, click, ephemeral(f"Not done: {exc}"))
        return web.Response(text="")
    if outcome is not None:
        await _respond(model, click, decided(click, outcome, now))
    return web.Response(text="")


async def _decide(request: web.Request, model: ReadModel, click: Click, by: str) -> str | None:
    summary = await model.failover_summary(plans=0)
    entries = summary.get("promotions" if click.kind == "promotion" else "notices", [])
    entry = next((e for e in entries if e.get("id") == click.owner), None)
    if entry is None or entry.get("pending_plan") is None:
        raise LookupError(f"no plan for {click.owner} waits for approval now (decided already, or withdrawn)")
    if click.after is not None and entry.get("pending_after") != click.after:
        raise LookupError(
            f"the plan waiting for {click.owner} is not the one on this message any more (the channels changed); "
            "approve the newer request, or use 'channel-monitor failover status'"
        )
    plan = int(entry["pending_plan"])
    verb = "approved" if click.action == "cm_approve" else "rejected"
    try:
        if click.action == "cm_approve":
            await request.app[ADMIN].approve_plan(plan, by)
        else:
            await request.app[ADMIN].reject_plan(plan, by)
    except UnknownPlan as exc:
        raise LookupError(str(exc)) from None
    log.warning(
        "failover: plan %s for %s %s %s by %s from Slack", plan, click.kind, click.owner, verb, by, extra={"event": "admin", "by": by}
    )
    return f"Plan {plan} {verb}"


async def _freeze(request: web.Request, click: Click, by: str) -> str:
    await request.app[ADMIN].set_frozen((click.kind, click.owner), True, by, "frozen from Slack")
    log.warning("failover: %s %s frozen by %s from Slack", click.kind, click.owner, by, extra={"event": "admin", "by": by})
    return f"{click.owner} frozen"


async def _respond(model: ReadModel, click: Click, payload: dict) -> None:
    if not click.response_url:
        return
    try:
        await model.slack_respond(click.response_url, payload)
    except Exception as exc:  # the decision stands; only Slack's copy of the message is behind
        log.warning("could not answer the slack click through its response_url: %s", type(exc).__name__)
