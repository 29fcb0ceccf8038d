"""Atlassian Statuspage v2-compatible, read-only JSON under /api/v2/, so status aggregators (and our own
`statuspage` probe) can read this monitor like any vendor's page.

The documents are built in monitor/web/statuspage.py. Handlers read the read model's memory plus at most
one query of the small incidents table.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from monitor.health import State
from monitor.web.keys import READ_MODEL, SETTINGS
from monitor.web.read_model import ChannelStatus, Incident, ReadModel
from monitor.web.statuspage import LIMIT, Memo, components, incident, maintenances, page, status

# summary.json is what aggregators poll: its open incidents are re-read at most once a second (they reach
# the database only at the writer's next flush anyway), so most polls need no database round trip.
OPEN_CACHE_SECONDS = 1.0
HEADERS = {"Cache-Control": "max-age=10", "Access-Control-Allow-Origin": "*"}  # public data, read cross-origin


@dataclass(slots=True)
class Snapshot:
    """The components as last built, and the channel states they were built from."""

    key: tuple[tuple[State, float | None], ...] | None = None
    listed: list[dict[str, Any]] | None = None
    by_id: dict[str, dict[str, Any]] | None = None
    encoded: str = "[]"
    open_at: float = -math.inf
    open_rows: list[Incident] = field(default_factory=list)
    memo: Memo = field(default_factory=dict)


SNAPSHOT = web.AppKey("statuspage", Snapshot)


@dataclass(slots=True)
class View:
    """One request's look: the read model, every channel's status, the page object."""

    model: ReadModel
    statuses: dict[str, ChannelStatus]
    page: dict[str, Any]


def page_url(request: web.Request) -> str:
    """The configured public address (alerts.status_url), else this request's own base URL."""
    return request.app[SETTINGS].status_url or f"{request.scheme}://{request.host}/"


def _view(request: web.Request) -> View:
    model = request.app[READ_MODEL]
    statuses = {cid: model.status(cid) for cid in model.channels()}
    return View(model, statuses, page(page_url(request), statuses.values(), model.started_at))


def _components(request: web.Request, view: View) -> tuple[dict[str, dict[str, Any]], str]:
    """Components by id and the encoded component list.

    Components change only with a channel's state, so they are rebuilt (and encoded) only then:
    with 200 channels that is most of summary.json's work.
    """
    snapshot = request.app[SNAPSHOT]
    key = tuple((s.state, s.since) for s in view.statuses.values())
    if key != snapshot.key or snapshot.by_id is None:
        listed = components(view.model.channels().values(), view.statuses, view.model.started_at)
        snapshot.key, snapshot.listed, snapshot.encoded = key, listed, json.dumps(listed)
        snapshot.by_id = {c["id"]: c for c in listed if not c["group"]}
    return snapshot.by_id, snapshot.encoded


def _json(body: dict[str, Any], **encoded: str) -> web.Response:
    """The document, with members already encoded spliced in after the others (in their order)."""
    text = json.dumps(body)
    if encoded:
        text = text[:-1] + "".join(f", {json.dumps(k)}: {v}" for k, v in encoded.items()) + "}"
    return web.Response(text=text, content_type="application/json", headers=HEADERS)


def _incidents(view: View, rows: list[Incident], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    names = {c.id: c.name for c in view.model.channels().values()}
    return [incident(r, names, view.page["url"], by_id) for r in rows]


def _maintenances(request: web.Request, view: View, by_id: dict[str, dict[str, Any]], *statuses: str) -> list[dict[str, Any]]:
    model = view.model
    return maintenances(model.windows(), model.started_at, model.now(), view.page["url"], by_id, statuses, request.app[SNAPSHOT].memo)


async def summary(request: web.Request) -> web.Response:
    """GET /api/v2/summary.json: page, components, open incidents, current and upcoming maintenance, status."""
    view = _view(request)
    by_id, encoded = _components(request, view)
    snapshot = request.app[SNAPSHOT]
    if time.monotonic() - snapshot.open_at > OPEN_CACHE_SECONDS:
        snapshot.open_rows = await view.model.open_incidents()
        snapshot.open_at = time.monotonic()
    return _json(
        {"page": view.page},
        components=encoded,
        incidents=json.dumps(_incidents(view, list(reversed(snapshot.open_rows)), by_id)),
        scheduled_maintenances=json.dumps(_maintenances(request, view, by_id, "scheduled", "in_progress")),
        status=json.dumps(status(view.statuses.values(), view.model.connectivity())),
    )


async def status_json(request: web.Request) -> web.Response:
    """GET /api/v2/status.json."""
    view = _view(request)
    return _json({"page": view.page, "status": status(view.statuses.values(), view.model.connectivity())})


async def components_json(request: web.Request) -> web.Response:
    """GET /api/v2/components.json."""
    view = _view(request)
    _by_id, encoded = _components(request, view)
    return _json({"page": view.page}, components=encoded)


async def incidents_json(request: web.Request) -> web.Response:
    """GET /api/v2/incidents.json: the latest incidents, newest first."""
    view = _view(request)
    by_id, _encoded = _components(request, view)
    rows = await view.model.incidents(LIMIT)
    return _json({"page": view.page, "incidents": _incidents(view, rows, by_id)})


async def unresolved_json(request: web.Request) -> web.Response:
    """GET /api/v2/incidents/unresolved.json: the open incidents, newest first."""
    view = _view(request)
    by_id, _encoded = _components(request, view)
    rows = list(reversed(await view.model.open_incidents()))[:LIMIT]
    return _json({"page": view.page, "incidents": _incidents(view, rows, by_id)})


async def _maintenances_json(request: web.Request, *statuses: str) -> web.Response:
    view = _view(request)
    by_id, _encoded = _components(request, view)
    return _json({"page": view.page, "scheduled_maintenances": _maintenances(request, view, by_id, *statuses)})


async def maintenances_json(request: web.Request) -> web.Response:
    """GET /api/v2/scheduled-maintenances.json: every window shown, latest first."""
    return await _maintenances_json(request, "scheduled", "in_progress", "completed")


async def upcoming_json(request: web.Request) -> web.Response:
    """GET /api/v2/scheduled-maintenances/upcoming.json."""
    return await _maintenances_json(request, "scheduled")


async def active_json(request: web.Request) -> web.Response:
    """GET /api/v2/scheduled-maintenances/active.json."""
    return await _maintenances_json(request, "in_progress")
