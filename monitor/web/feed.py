"""GET /feed.atom: the latest incidents as an Atom 1.0 feed, for feed readers and chat integrations."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from urllib.parse import urljoin

from aiohttp import web

from monitor.web.badges import xml_text
from monitor.web.keys import READ_MODEL
from monitor.web.read_model import Incident
from monitor.web.statuspage import LIMIT, PAGE_NAME, incident_cause, iso, span
from monitor.web.statuspage_api import page_url

ATOM = "http://www.w3.org/2005/Atom"
TAG = "tag:channel-monitor,2026:"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def atom(rows: Sequence[Incident], names: Mapping[str, str], status_url: str, self_url: str, fallback_updated: float) -> bytes:
    """The feed document; ElementTree escapes every text and attribute."""
    feed = ET.Element("feed", {"xmlns": ATOM})
    _add(feed, "id", TAG + "incidents")
    _add(feed, "title", f"{PAGE_NAME}: incidents")
    _add(feed, "updated", iso(max((r.ended_at or r.started_at for r in rows), default=fallback_updated)))
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=status_url)
    _add(_add(feed, "author"), "name", "channel-monitor")
    _add(feed, "generator", "channel-monitor")
    for row in rows:
        name = names.get(row.channel, row.channel)
        try:
            cause = json.loads(row.cause)
        except ValueError:
            cause = {}
        lasted = span(row.ended_at - row.started_at) if row.ended_at is not None else None
        entry = _add(feed, "entry")
        _add(entry, "id", f"{TAG}incident-{row.id}")
        _add(entry, "title", f"{name} was down for {lasted}" if lasted else f"{name} is down")
        _add(entry, "updated", iso(row.ended_at or row.started_at))
        _add(entry, "published", iso(row.started_at))
        _add(entry, "link", rel="alternate", type="text/html", href=status_url)
        _add(
            entry,
            "content",
            "\n".join(
                [
                    f"Cause: {incident_cause(cause if isinstance(cause, dict) else {})}",
                    f"Started: {_when(row.started_at)}",
                    f"Ended: {_when(row.ended_at) if row.ended_at is not None else 'not yet (ongoing)'}",
                    f"Duration: {lasted or 'ongoing'}",
                ]
            ),
            type="text",
        )
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


async def feed(request: web.Request) -> web.Response:
    """GET /feed.atom: the latest incidents."""
    model = request.app[READ_MODEL]
    rows = await model.incidents(LIMIT)
    names = {c.id: c.name for c in model.channels().values()}
    status_url = page_url(request)
    # Built from the page address, not the request's: nothing a caller sends is reflected.
    body = atom(rows, names, status_url, urljoin(status_url, "feed.atom"), model.started_at)
    return web.Response(
        body=body,
        content_type="application/atom+xml",
        charset="utf-8",
        headers={"Cache-Control": "max-age=60", "Access-Control-Allow-Origin": "*"},
    )
