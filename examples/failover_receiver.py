#!/usr/bin/env python3
"""A failover webhook receiver to start from: what your side of the `webhook` actuator must do.

    CM_FAILOVER_SECRET=... python examples/failover_receiver.py --port 9000
    # in channels.yaml:  actuators: [{id: hook, kind: webhook, url: 'http://127.0.0.1:9000/failover',
    #                                 secret: '${CM_FAILOVER_SECRET}'}]

It does the four things docs/failover.md ("Webhook requests") asks of a receiver:
1. verifies the signature over the raw body, rejecting stale or replayed requests (401);
2. applies each Idempotency-Key once, and answers a repeat with the first answer;
3. refuses with 409 when the monitor expects a value the object no longer has (someone changed the budget
   by hand: failover then freezes that promotion instead of overwriting the change);
4. answers 2xx with the value it now holds, so the monitor can show what was applied.

`apply()` is where your shop platform, feed tool or ad API call goes; here it keeps values in memory and
logs them. Keep the idempotency keys in your database in production: in memory they are forgotten at a
restart, and a retry after a restart would then be applied again. Needs aiohttp and channel-monitor's
`monitor.core.signing` (or a copy of its verify()).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable

from aiohttp import web

from monitor.core.signing import HEADER, SignatureError, verify

log = logging.getLogger("failover-receiver")
Place = tuple[str, str, str]  # ("promotion" or "notice", its id, channel): a notice may share a promotion's id


class FailoverReceiver:
    """An aiohttp app answering POST /failover as the monitor's webhook actuator expects."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.clock = clock
        self.values: dict[Place, int] = {}  # what each place holds now (amounts; notices: 1 = posted)
        self.paused: set[Place] = set()
        self.answers: dict[str, dict] = {}  # idempotency key -> the answer given the first time
        self.app = web.Application()
        self.app.router.add_post("/failover", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes: the signature is over them, not over re-encoded JSON
        try:
            verify(self.secret, body, request.headers.get(HEADER, ""), self.clock())
        except SignatureError as exc:
            return web.json_response({"error": str(exc)}, status=401)
        action = json.loads(body)
        key = request.headers.get("Idempotency-Key", "")
        if not key or key != action.get("id"):
            return web.json_response({"error": "Idempotency-Key must equal the action's id"}, status=400)
        if key in self.answers:  # a retry of an action already applied: the same answer, nothing done again
            return web.json_response(self.answers[key])
        place = (
            ("promotion", action["promotion"], action["channel"])
            if action["promotion"]
            else ("notice", action["notice"], action["channel"])
        )
        expect, current = action.get("expect"), self.values.get(place)
        # 409 only when the place holds neither what the monitor expects nor the value it asks for: already
        # holding the value is a success (e.g. an earlier attempt was applied but its answer was lost).
        if expect is not None and current is not None and current not in (expect, action.get("value")):
            # Changed outside the monitor: refuse, and write nothing (no answer stored: a person may fix it).
            return web.json_response({"error": f"{place[2]} holds {current}, not {expect}: changed by someone else"}, status=409)
        answer = {"ok": True, "value": self.apply(action, place)}
        self.answers[key] = answer
        return web.json_response(answer)

    def apply(self, action: dict, place: Place) -> int | None:
        """Carry out one action; return the value the place holds afterwards. Replace this with your calls."""
        op = action["op"]
        if op == "set_amount":
            self.values[place] = action["value"]
        elif op == "pause":
            self.paused.add(place)
        elif op == "resume":
            self.paused.discard(place)
        elif op == "post_notice":
            self.values[place] = 1
        elif op == "withdraw_notice":
            self.values[place] = 0
        log.info("%s %s %s on %s (%s): %s", op, *place, action.get("target"), action.get("value"))
        return self.values.get(place)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An example failover webhook receiver (POST /failover).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port (default 9000)")
    parser.add_argument(
        "--secret-env", default="CM_FAILOVER_SECRET", help="environment variable holding the shared secret (default CM_FAILOVER_SECRET)"
    )
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env, "")
    if len(secret) < 16:
        print(f"failover_receiver: set {args.secret_env} to the actuator's secret (at least 16 characters)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    url = f"http://{args.host}:{args.port}/failover"
    web.run_app(
        FailoverReceiver(secret).app,
        host=args.host,
        port=args.port,
        print=lambda _message: print(f"failover receiver listening on {url} (Ctrl-C stops it)", flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
