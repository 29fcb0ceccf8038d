"""Failover over HTTP: the read-only view (GET /api/failover) and the admin actions.

GET /api/failover shows promotions' allocations, which reveal budgets: it answers only when
`show_failover: true` (the demo sets it) or with the admin token. The admin routes need the token:
approve a plan, freeze or unfreeze a promotion/notice. Every change is logged with who and why.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from monitor.failover.engine import MAX_PLAN_ID, NoSuchPlan
from monitor.failover.report import failover_summary
from monitor.web.keys import SERVICE

log = logging.getLogger("monitor.admin")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field("", max_length=500)


def setup_routes(app: web.Application, show_public: bool, authorize: Callable[[web.Request], None],
                 parse: Callable) -> None:
    """Register the failover routes; `authorize` and `parse` come from the admin module."""

    async def summary(request: web.Request) -> web.Response:
        if not show_public:
            authorize(request)
        service = request.app[SERVICE]
        return web.json_response(await asyncio.to_thread(failover_summary, service.failover))

    async def approve(request: web.Request) -> web.Response:
        authorize(request)
        body = await parse(request, Decision)
        try:
            plan_id = int(request.match_info["plan"])
        except ValueError:
            raise web.HTTPBadRequest(text="the plan id is a number; see GET /api/failover for the pending plan") from None
        if not 0 < plan_id < MAX_PLAN_ID:  # no database stores such an id (and some would fail to compare it)
            raise web.HTTPNotFound(text=f"there is no plan {plan_id}")
        try:
            draft = await request.app[SERVICE].approve_plan(plan_id, body.by)
        except NoSuchPlan as exc:  # a LookupError too: caught first
            raise web.HTTPNotFound(text=str(exc)) from None
        except LookupError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        log.warning("failover: plan %s for %s %s approved by %s", plan_id, *draft.owner, body.by,
                    extra={"event": "admin", "by": body.by, "plan": plan_id})
        return web.json_response({"plan": plan_id, "status": "approved", "after": draft.after})

    def freezer(frozen: bool):
        async def handler(request: web.Request) -> web.Response:
            authorize(request)
            body = await parse(request, Decision)
            kind = request.match_info["kind"].rstrip("s")  # promotions/notices -> promotion/notice
            owner = (kind, request.match_info["owner"])
            try:
                await request.app[SERVICE].set_frozen(owner, frozen, body.by, body.reason or ("frozen by hand" if frozen else ""))
            except LookupError as exc:
                raise web.HTTPNotFound(text=str(exc)) from None
            verb = "frozen" if frozen else "unfrozen"
            log.warning("failover: %s %s %s by %s%s", kind, owner[1], verb, body.by, f": {body.reason}" if body.reason else "",
                        extra={"event": "admin", "by": body.by, "reason": body.reason, "owner": owner[1]})
            return web.json_response({"kind": kind, "id": owner[1], "frozen": frozen})
        return handler

    app.router.add_get("/api/failover", summary)
    app.router.add_post("/api/admin/failover/plans/{plan}/approve", approve)
    app.router.add_post("/api/admin/failover/{kind:promotions|notices}/{owner}/freeze", freezer(True))
    app.router.add_post("/api/admin/failover/{kind:promotions|notices}/{owner}/unfreeze", freezer(False))
