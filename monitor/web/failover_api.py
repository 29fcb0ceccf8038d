"""Failover over HTTP: the read-only view (GET /api/failover) and the admin actions.

GET /api/failover shows promotions' allocations, which reveal budgets: it answers only when
`show_failover: true` (the demo sets it) or with the admin token. The admin routes need the token:
approve a plan, freeze or unfreeze a promotion/notice. Every change is logged with who and why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from monitor.web.admin import authorize, parse
from monitor.web.keys import ADMIN, READ_MODEL, SETTINGS
from monitor.web.read_model import UnknownPlan

log = logging.getLogger("monitor.admin")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field("", max_length=500)


async def summary(request: web.Request) -> web.Response:
    """GET /api/failover: public with show_failover, else for the admin token only."""
    if not request.app[SETTINGS].show_failover:
        authorize(request)
    return web.json_response(await request.app[READ_MODEL].failover_summary())


async def _plan_request(request: web.Request) -> tuple[int, Decision]:
    """The admin token checked, the body and the plan id of a decision on a plan (400 with the fix if wrong)."""
    authorize(request)
    body = await parse(request, Decision)
    try:
        return int(request.match_info["plan"]), body
    except ValueError:
        raise web.HTTPBadRequest(text="the plan id is a number; see GET /api/failover for the pending plan") from None


@contextmanager
def _plan_errors() -> Iterator[None]:
    """An unknown plan is 404; a plan that does not wait for approval (any other LookupError) is 409."""
    try:
        yield
    except UnknownPlan as exc:  # a LookupError too: caught first
        raise web.HTTPNotFound(text=str(exc)) from None
    except LookupError as exc:
        raise web.HTTPConflict(text=str(exc)) from None


async def approve(request: web.Request) -> web.Response:
    """POST /api/admin/failover/plans/{plan}/approve: carry out a plan that waits for approval."""
    plan_id, body = await _plan_request(request)
    with _plan_errors():
        approved = await request.app[ADMIN].approve_plan(plan_id, body.by)
    log.warning(
        "failover: plan %s for %s %s approved by %s",
        plan_id,
        *approved.owner,
        body.by,
        extra={"event": "admin", "by": body.by, "plan": plan_id},
    )
    return web.json_response({"plan": plan_id, "status": "approved", "after": approved.after})


async def reject(request: web.Request) -> web.Response:
    """POST /api/admin/failover/plans/{plan}/reject: turn down a plan that waits for approval (nothing moves)."""
    plan_id, body = await _plan_request(request)
    with _plan_errors():
        owner = await request.app[ADMIN].reject_plan(plan_id, body.by)
    log.warning(
        "failover: plan %s for %s %s rejected by %s%s",
        plan_id,
        *owner,
        body.by,
        f": {body.reason}" if body.reason else "",
        extra={"event": "admin", "by": body.by, "plan": plan_id},
    )
    return web.json_response({"plan": plan_id, "status": "rejected"})


async def freeze(request: web.Request) -> web.Response:
    """POST /api/admin/failover/{promotions|notices}/{owner}/freeze: hold it where it is."""
    return await _set_frozen(request, True)


async def unfreeze(request: web.Request) -> web.Response:
    """POST /api/admin/failover/{promotions|notices}/{owner}/unfreeze: let failover move it again."""
    return await _set_frozen(request, False)


async def _set_frozen(request: web.Request, frozen: bool) -> web.Response:
    authorize(request)
    body = await parse(request, Decision)
    kind = request.match_info["kind"].rstrip("s")  # promotions/notices -> promotion/notice
    owner = (kind, request.match_info["owner"])
    try:
        await request.app[ADMIN].set_frozen(owner, frozen, body.by, body.reason or ("frozen by hand" if frozen else ""))
    except LookupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    verb = "frozen" if frozen else "unfrozen"
    log.warning(
        "failover: %s %s %s by %s%s",
        kind,
        owner[1],
        verb,
        body.by,
        f": {body.reason}" if body.reason else "",
        extra={"event": "admin", "by": body.by, "reason": body.reason, "owner": owner[1]},
    )
    return web.json_response({"kind": kind, "id": owner[1], "frozen": frozen})
