"""The security headers, added to every response the app sends: pages, JSON, and the error answers aiohttp
builds from a raised HTTPException (404, 400, 401, 405, 413) or an unhandled error (500).

Added in `on_response_prepare`, not in a middleware: a middleware never sees a raised HTTPException as a
response, nor the 404/405 of a path no route matches. A response that sets its own header keeps it.
"""

from __future__ import annotations

from aiohttp import web

CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """Add each security header the response does not set itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
