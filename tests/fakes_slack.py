"""A fake Slack on loopback: chat.postMessage, chat.update and incoming webhooks, with Slack's response shapes.

Failures are scripted per method ("chat.postMessage", "chat.update", "webhook") as a queue of responses
taken one per request before the normal handling (None: answer that one normally); every accepted
message is recorded.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-1111-2222-fakefakefakefake"


@dataclass
class Message:
    """A message as it is now (after any chat.update), with its earlier versions."""

    channel: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]]
    versions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Call:
    """One request the fake received, accepted or not."""

    method: str
    at: float  # time.monotonic()
    body: dict[str, Any]


class FakeSlack:
    """Slack's Web API under /api/ and incoming webhooks under /webhook/{id}."""

    def __init__(self, token: str = TOKEN, channels: dict[str, str] | None = None) -> None:
        self.token = token
        self.channels = channels or {"#ops": "C0OPS", "#alerts": "C0ALERTS"}  # name -> id
        self.webhooks: dict[str, list[dict[str, Any]]] = {"T0/B0/hooksecret123": []}  # id -> bodies accepted
        self.script: dict[str, deque[web.Response | None]] = defaultdict(deque)
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}  # ts -> message
        self.url = ""  # set by the fixture: http://127.0.0.1:port/
        self._next_ts = 1633374000
        self.app = web.Application()
        self.missing_scopes: set[str] = set()  # methods the bot token lacks the scope for (missing_scope)
        self.usergroups: dict[str, list[str]] = {}  # user group id -> member user ids (usergroups.users.list)
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to a click's response_url
        self.app.router.add_post("/api/{method}", self._api)
        self.app.router.add_get("/api/{method}", self._api)  # slack-sdk GETs a few methods (usergroups.users.list)
        self.app.router.add_post("/webhook/{id:.+}", self._webhook)
        self.app.router.add_post("/actions/{id}", self._response_url)

    # Scripted answers.
    def fail(self, method: str, *responses: web.Response | None) -> None:
        """Answer the next requests to method with these responses, in order (None: the normal answer)."""
        self.script[method].extend(responses)

    @staticmethod
    def error(error: str, **extra: Any) -> web.Response:
        """A Web API error: HTTP 200 with {"ok": false, "error": ...}, as Slack answers."""
        return web.json_response({"ok": False, "error": error, **extra})

    @staticmethod
    def rate_limited(retry_after: int = 1, webhook: bool = False) -> web.Response:
        if webhook:
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": str(retry_after)})
        return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)})

    @staticmethod
    def http(status: int, body: str = "<html><body>Slack is having trouble</body></html>") -> web.Response:
        content_type = "text/html" if body.startswith("<") else "text/plain"
        return web.Response(status=status, text=body, content_type=content_type)

    # What tests read.
    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c.method == method)

    def top_level(self) -> list[Message]:
        return [m for m in self.messages.values() if m.thread_ts is None]

    def replies(self, ts: str) -> list[Message]:
        return [m for m in self.messages.values() if m.thread_ts == ts]

    def webhook_url(self, id: str = "T0/B0/hooksecret123") -> str:
        return f"{self.url}webhook/{id}"

    # Handlers.
    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await _body(request)
        self.calls.append(Call(method, time.monotonic(), body))
        scripted = self.script[method].popleft() if self.script[method] else None
        if scripted is not None:
            return scripted
        auth = request.headers.get("Authorization", "")
        if not auth:
            return self.error("not_authed")
        if auth != f"Bearer {self.token}":
            return self.error("invalid_auth")
        if method == "usergroups.users.list":
            group = body.get("usergroup", "")
            if group not in self.usergroups:
                return self.error("no_such_subteam")
            return web.json_response({"ok": True, "users": self.usergroups[group]})
        channel = self.channels.get(body.get("channel", ""), body.get("channel", ""))
        if channel not in self.channels.values():
            return self.error("channel_not_found")
        if method == "conversations.replies":
            if "conversations.replies" in self.missing_scopes:
                return self.error("missing_scope", needed="channels:history")
            parent = self.messages.get(body.get("ts", ""))
            if parent is None:
                return self.error("thread_not_found")
            thread = [parent, *sorted(self.replies(parent.ts), key=lambda m: m.ts)]
            return web.json_response({"ok": True, "messages": [_shape(m) for m in thread], "has_more": False})
        if not body.get("text") and not body.get("blocks"):
            return self.error("no_text")
        if method == "chat.postMessage":
            return self._post(channel, body)
        if method == "chat.update":
            return self._update(channel, body)
        return self.error("unknown_method")

    def _post(self, channel: str, body: dict[str, Any]) -> web.Response:
        thread_ts = body.get("thread_ts")
        if thread_ts is not None and thread_ts not in self.messages:
            return self.error("thread_not_found")
        self._next_ts += 1
        ts = f"{self._next_ts}.{self._next_ts % 1000000:06d}"
        self.messages[ts] = Message(channel, ts, thread_ts, body.get("text", ""), body.get("blocks", []))
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": _shape(self.messages[ts])})

    def _update(self, channel: str, body: dict[str, Any]) -> web.Response:
        message = self.messages.get(body.get("ts", ""))
        if message is None or message.channel != channel:
            return self.error("message_not_found")
        message.versions.append({"text": message.text, "blocks": message.blocks})
        message.text, message.blocks = body.get("text", ""), body.get("blocks", [])
        return web.json_response({"ok": True, "channel": channel, "ts": message.ts, "text": message.text, "message": _shape(message)})

    def response_url(self, id: str = "T0/1234/abcd") -> str:
        """A click's response_url (Slack's are https://hooks.slack.com/actions/...)."""
        return f"{self.url}actions/{id.replace('/', '-')}"

    async def _response_url(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.responses.append(body)
        return web.json_response({"ok": True})

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        hook = request.match_info["id"]
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        self.calls.append(Call("webhook", time.monotonic(), body if isinstance(body, dict) else {}))
        scripted = self.script["webhook"].popleft() if self.script["webhook"] else None
        if scripted is not None:
            return scripted
        if hook not in self.webhooks:
            return web.Response(status=404, text="no_service", content_type="text/html")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return web.Response(status=400, text="invalid_payload", content_type="text/html")
        self.webhooks[hook].append(body)
        return web.Response(text="ok", content_type="text/html")


async def _body(request: web.Request) -> dict[str, Any]:
    """JSON (what slack-sdk sends for chat.*), a form, whose blocks field is a JSON string, or a GET's query."""
    if request.method == "GET":
        return dict(request.query)
    if request.content_type == "application/json":
        data = await request.json()
        return data if isinstance(data, dict) else {}
    form = dict(await request.post())
    if isinstance(form.get("blocks"), str):
        form["blocks"] = json.loads(str(form["blocks"]))
    return {k: v for k, v in form.items()}


def _shape(message: Message) -> dict[str, Any]:
    shaped = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "text": message.text, "ts": message.ts, "blocks": message.blocks}
    return {**shaped, "thread_ts": message.thread_ts} if message.thread_ts else shaped
