"""shields.io-style flat SVG badges: a channel's state and its 30-day uptime, for READMEs and dashboards."""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from monitor.health import State
from monitor.web.keys import READ_MODEL, UPTIME

LABEL_COLOUR = "#555"
GREY = "#9f9f9f"
STATE_COLOURS = {State.UP: "#4c1", State.DEGRADED: "#dfb317", State.DOWN: "#e05d44", State.MAINTENANCE: "#007ec6", State.UNKNOWN: GREY}
# (lowest share, colour), best first: shields' brightgreen, green, yellow, orange, red.
UPTIME_COLOURS = ((0.999, "#4c1"), (0.99, "#97ca00"), (0.95, "#dfb317"), (0.90, "#fe7d37"), (0.0, "#e05d44"))
# No font metrics on the server: a fixed average width of Verdana 11px keeps badges deterministic.
CHAR_WIDTH = 7
PADDING = 10
HEADERS = {"Cache-Control": "max-age=30"}
# Characters XML 1.0 forbids even escaped; a name or cause holding one would make the document unparsable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text with the characters XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def text_width(text: str) -> int:
    return len(text) * CHAR_WIDTH + PADDING


def badge(label: str, value: str, colour: str) -> str:
    """A flat two-part badge: grey label on the left, coloured value on the right; self-contained SVG."""
    label, value = xml_text(label), xml_text(value)
    left, right = text_width(label), text_width(value)
    width = left + right
    title = f"{label}: {value}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>',
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>',
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill={quoteattr(LABEL_COLOUR)}/>'
        f'<rect x="{left}" width="{right}" height="20" fill={quoteattr(colour)}/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>',
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">',
    ]
    for x, text in ((left / 2, label), (left + right / 2, value)):
        parts.append(
            f'<text x="{x:g}" y="15" fill="#010101" fill-opacity=".3">{escape(text)}</text><text x="{x:g}" y="14">{escape(text)}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


def uptime_text(share: float | None) -> tuple[str, str]:
    """('99.95%', colour); rounded down, so any downtime never shows as 100%."""
    if share is None:
        return "no data", GREY
    colour = next(c for low, c in UPTIME_COLOURS if share >= low)
    if share >= 1:
        return "100%", colour
    return f"{math.floor(share * 10000) / 100:.2f}%", colour


def _svg(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="image/svg+xml", headers=HEADERS)


def _unknown() -> web.Response:
    # The requested id is not echoed back: nothing the caller typed ends up in our response.
    return _svg(badge("status", "unknown channel", GREY), status=404)


async def state_badge(request: web.Request) -> web.Response:
    """GET /badge/{channel}/status.svg: the channel's name and state."""
    model = request.app[READ_MODEL]
    channel = model.channels().get(request.match_info["channel"])
    if channel is None:
        return _unknown()
    state = model.status(channel.id).state
    return _svg(badge(channel.name, state.value, STATE_COLOURS[state]))


async def uptime_badge(request: web.Request) -> web.Response:
    """GET /badge/{channel}/uptime-30d.svg: the channel's name and 30-day uptime."""
    model = request.app[READ_MODEL]
    channel = model.channels().get(request.match_info["channel"])
    if channel is None:
        return _unknown()
    text, colour = uptime_text((await request.app[UPTIME].get(model)).get(channel.id, {}).get("30d"))
    return _svg(badge(channel.name, text, colour))
