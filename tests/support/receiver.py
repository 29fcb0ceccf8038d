"""A seller's failover webhook receiver on loopback, as the README tells sellers to write one.

It verifies the signature (rejecting tampering and replays), applies each action once per
Idempotency-Key (a repeat is acknowledged, not applied again), and keeps the resulting state:
amounts and paused flags per (promotion, channel), and the notices posted per (notice, channel).
`script` makes it answer with chosen statuses first (e.g. [500, 200]) per channel.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque

from aiohttp import web

from monitor.core.signing import HEADER, SignatureError, verify

SECRET = "test-secret-0123456789abcdef"


class Receiver:
    def __init__(self, secret: str = SECRET, amounts: dict[tuple[str, str], int] | None = None) -> None:
        self.secret = secret
        self.amounts: dict[tuple[str, str], int] = dict(amounts or {})
        self.paused: set[tuple[str, str]] = set()
        self.notices: set[tuple[str, str]] = set()
        self.applied: dict[str, dict] = {}  # idempotency key -> the action, applied once
        self.deliveries: list[dict] = []  # every request that passed the signature check
        self.rejected: list[str] = []  # why requests were refused
        self.script: dict[str, deque[int]] = defaultdict(deque)  # channel -> statuses to answer first
        self.first_ack_at: float | None = None
        self.url = ""  # set by whoever serves it
        self.app = web.Application()
        self.app.router.add_post("/failover", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(self.secret, body, request.headers.get(HEADER, ""), time.time())
        except SignatureError as exc:
            self.rejected.append(str(exc))
            return web.json_response({"error": str(exc)}, status=401)
        action = json.loads(body)
        if request.headers.get("Idempotency-Key") != action["id"]:
            self.rejected.append("key mismatch")
            return web.json_response({"error": "Idempotency-Key differs from id"}, status=400)
        self.deliveries.append(action)
        scripted = self.script[action["channel"]]
        if scripted:
            status = scripted.popleft()
            if status != 200:
                return web.json_response({"error": f"scripted {status}"}, status=status)
        if action["id"] not in self.applied:
            self.applied[action["id"]] = action
            self.apply(action)
        if self.first_ack_at is None:
            self.first_ack_at = time.time()
        return web.json_response({"ok": True, "value": action.get("value")})

    def apply(self, action: dict) -> None:
        place = (action["promotion"] or action["notice"], action["channel"])
        op = action["op"]
        if op == "set_amount":
            self.amounts[place] = action["value"]
        elif op == "pause":
            self.paused.add(place)
        elif op == "resume":
            self.paused.discard(place)
        elif op == "post_notice":
            self.notices.add(place)
        elif op == "withdraw_notice":
            self.notices.discard(place)

    def spending(self, promotion: str) -> dict[str, int]:
        """What each channel really spends: its amount, or 0 while paused."""
        return {c: (0 if (p, c) in self.paused else v) for (p, c), v in self.amounts.items() if p == promotion}

    def duplicates(self) -> int:
        """Deliveries beyond the first per key (fine: same key, applied once)."""
        return len(self.deliveries) - len({d["id"] for d in self.deliveries})
