"""The failover actuators against real servers on 127.0.0.1: a signed-webhook receiver and a fake Graph API.

The receiver verifies every request with signing.verify and deduplicates on Idempotency-Key, as a
seller's endpoint should; the fake Graph API keeps ad sets in a dict and answers errors in Meta's
JSON shape with HTTP 400, so the actuators are exercised through real HTTP, never through mocks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from monitor.core.http import USER_AGENT
from monitor.core.signing import HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify
from monitor.failover.actions import ActionResult
from monitor.failover.actuators import ACTUATORS, google_ads, log, meta_ads, webhook
from tests.support import ROOT
from tests.support.actuators import ADSET, NOW, SECRET, action, hook_config
from tests.support.probes import closed_port

TOKEN = "EAAB-test-token-0123456789"
SCHEMA = json.loads((ROOT / "docs" / "failover-webhook.schema.json").read_text())


# --- signing ---------------------------------------------------------------------------------------

BODY = b'{"id":"act-7f3a","op":"pause"}'


def test_signature_round_trip():
    header = sign(SECRET, BODY, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    verify(SECRET, BODY, header, now=1_700_000_000 + 299)


@pytest.mark.parametrize(
    ("secret", "body", "now", "message"),
    [
        (SECRET, BODY + b" ", NOW, "does not match"),
        ("another-secret-0123456789", BODY, NOW, "does not match"),
        (SECRET, BODY, NOW + 301, "301 s old"),
        (SECRET, BODY, NOW - 301, "301 s in the future"),
    ],
    ids=["tampered-body", "wrong-secret", "replay-301s-old", "future-timestamp"],
)
def test_signature_rejects(secret, body, now, message):
    with pytest.raises(SignatureError, match=message):
        verify(secret, body, sign(SECRET, BODY, int(NOW)), now=now)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "v1=abc",
        "t=1700000000",
        "t=abc,v1=00",
        "t=1700000000,t=1700000000,v1=00",
        "t=-5,v1=00",
        "1700000000,v1=00",
        "t=1700000000;v1=00",
        "=1,v1=00",
    ],
    ids=["empty", "blank", "no-t", "no-v1", "t-not-a-number", "two-t", "negative-t", "no-equals", "semicolon", "empty-name"],
)
def test_malformed_signature_header_is_rejected(header):
    with pytest.raises(SignatureError, match="missing|malformed"):
        verify(SECRET, BODY, header, now=NOW)


def test_signature_error_is_a_value_error():
    assert issubclass(SignatureError, ValueError)


def test_rotated_secrets_any_v1_passes():
    old, new = sign("old-secret-0123456789", BODY, int(NOW)), sign(SECRET, BODY, int(NOW))
    header = f"{new},{old.split(',')[1]},v0=ignored"
    verify(SECRET, BODY, header, now=NOW)
    verify("old-secret-0123456789", BODY, header, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify("third-secret-0123456789", BODY, header, now=NOW)


# --- webhook ----------------------------------------------------------------------------------------


class Receiver:
    """A seller's endpoint: verifies the signature, applies each Idempotency-Key once, answers from a script."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.script: list[web.StreamResponse] = []  # answers for the next requests, then 200
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.applied: dict[str, dict[str, Any]] = {}
        self.release = asyncio.Event()  # a "hang" answer waits for this
        self.hang = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            verify(self.secret, raw, request.headers.get(HEADER, ""), now=NOW)
        except SignatureError as exc:
            return web.json_response({"error": str(exc)}, status=401)
        self.requests.append((dict(request.headers), raw))
        if self.hang:
            await self.release.wait()
        if self.script:
            return self.script.pop(0)
        body = json.loads(raw)
        self.applied.setdefault(request.headers["Idempotency-Key"], body)
        return web.json_response({"value": body["value"]} if body["value"] is not None else {})


@pytest.fixture
async def receiver(aiohttp_server):
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    server = await aiohttp_server(app)
    recv.url = str(server.make_url("/hook"))
    yield recv
    recv.release.set()


async def test_webhook_applied_signed_and_keyed(receiver, ctx):
    config = hook_config(receiver.url, headers={"X-Shop": "sklep-1"})
    result = await webhook.apply(action(), config, ctx)
    assert (result.outcome, result.observed, result.response["status"]) == ("applied", 8000, 200)
    [(headers, raw)] = receiver.requests
    assert headers["Idempotency-Key"] == "act-7f3a"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert headers["X-Shop"] == "sklep-1"
    body = json.loads(raw)
    assert raw == json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    assert body == {
        "id": "act-7f3a",
        "op": "set_amount",
        "promotion": "black-friday",
        "notice": None,
        "channel": "meta",
        "target": ADSET,
        "value": 8000,
        "expect": 5000,
        "text": None,
        "unit": "PLN",
        "reason": {"incident": 42, "failed": ["meta"], "plan": "p-9"},
        "attempt": 1,
        "sent_at": "2023-11-14T22:13:20.000Z",
    }


@pytest.mark.parametrize(
    ("answer", "observed"),
    [
        ({"value": 9000}, 9000),
        ({"value": "9000"}, None),
        ({"value": True}, None),
        ([9000], None),
        ("ok", None),
    ],
    ids=["int", "string", "bool", "list", "not-json"],
)
async def test_webhook_observed_is_only_an_int_value(receiver, ctx, answer, observed):
    receiver.script.append(web.json_response(answer) if answer != "ok" else web.Response(text="ok"))
    result = await webhook.apply(action(), hook_config(receiver.url), ctx)
    assert (result.outcome, result.observed) == ("applied", observed)


async def test_webhook_retry_on_500_then_applied_once_with_the_same_key(receiver, ctx):
    receiver.script.append(web.json_response({"error": "database down"}, status=500))
    config = hook_config(receiver.url)
    first = await webhook.apply(action(), config, ctx)
    assert (first.outcome, first.detail) == ("retry", "webhook temporarily failed, HTTP 500: database down")
    second = await webhook.apply(action(attempt=2), config, ctx)
    again = await webhook.apply(action(attempt=3), config, ctx)  # a duplicate delivery changes nothing
    assert second.outcome == again.outcome == "applied"
    assert [h["Idempotency-Key"] for h, _ in receiver.requests] == ["act-7f3a"] * 3
    assert [json.loads(raw)["attempt"] for _, raw in receiver.requests] == [1, 2, 3]
    assert list(receiver.applied) == ["act-7f3a"] and receiver.applied["act-7f3a"]["attempt"] == 2


async def test_webhook_409_is_conflict_with_the_receivers_reason(receiver, ctx):
    receiver.script.append(web.json_response({"error": "budget is 7000, not 5000:\nchanged by a human"}, status=409))
    receiver.script.append(web.json_response({"message": "x" * 500}, status=409))
    config = hook_config(receiver.url)
    result = await webhook.apply(action(), config, ctx)
    assert (result.outcome, result.detail) == (
        "conflict",
        "webhook reports a conflict, HTTP 409: budget is 7000, not 5000: changed by a human",
    )
    long = await webhook.apply(action(), config, ctx)
    assert long.outcome == "conflict" and long.detail.endswith(": " + "x" * 197 + "...")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422], ids=str)
async def test_webhook_other_4xx_is_failed(receiver, ctx, status):
    receiver.script.append(web.json_response({"error": {"message": "unknown promotion"}}, status=status))
    result = await webhook.apply(action(), hook_config(receiver.url), ctx)
    assert (result.outcome, result.detail) == ("failed", f"webhook rejected the action, HTTP {status}: unknown promotion")


async def test_webhook_signed_with_another_secret_is_refused_by_the_receiver(receiver, ctx):
    result = await webhook.apply(action(), hook_config(receiver.url, secret="not-the-receivers-secret"), ctx)
    assert result.outcome == "failed" and "signature does not match" in result.detail
    assert receiver.applied == {}


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "30", 30.0),
        (503, "2.5", 2.5),
        (429, None, None),
        (429, "soon", None),
        (429, "-1", None),
        (500, "30", None),
        (408, None, None),
        (425, None, None),
        (502, None, None),
    ],
    ids=["429-30s", "503-2.5s", "429-no-header", "429-not-seconds", "429-negative", "500-ignores-header", "408", "425", "502"],
)
async def test_webhook_temporary_statuses_retry(receiver, ctx, status, retry_after, expected):
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    receiver.script.append(web.Response(status=status, headers=headers, text="busy"))
    result = await webhook.apply(action(), hook_config(receiver.url), ctx)
    assert (result.outcome, result.retry_after) == ("retry", expected)
    assert result.detail == f"webhook temporarily failed, HTTP {status}"


async def test_webhook_redirect_is_not_followed(receiver, ctx):
    receiver.script.append(web.Response(status=307, headers={"Location": "http://127.0.0.1:1/elsewhere"}))
    result = await webhook.apply(action(), hook_config(receiver.url), ctx)
    assert (result.outcome, result.detail) == ("failed", "webhook redirected (HTTP 307); set url to the final address")


async def test_webhook_timeout_is_retry(receiver, ctx):
    receiver.hang = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await webhook.apply(action(), hook_config(receiver.url, timeout=0.2), ctx)
    assert loop.time() - started < 2
    assert result.outcome == "retry" and result.detail.startswith("webhook unreachable: ") and "no answer in time" in result.detail


async def test_webhook_connection_refused_is_retry_without_url_secrets(ctx, caplog):
    url = f"http://hookuser:hookpass@127.0.0.1:{closed_port()}/hook?token=querysecret"
    with caplog.at_level(logging.INFO, logger="test"):
        result = await webhook.apply(action(), hook_config(url), ctx)
    assert result.outcome == "retry" and result.detail.startswith("webhook unreachable: connection refused by 127.0.0.1:")
    for text in (result.detail, str(result.response), caplog.text):
        assert "hookpass" not in text and "querysecret" not in text and SECRET not in text


async def test_webhook_secret_never_in_detail_or_logs(receiver, ctx, caplog):
    receiver.script.append(web.json_response({"error": f"bad signature for secret {SECRET}"}, status=409))
    receiver.script.append(web.json_response({"message": f"{SECRET} rejected"}, status=400))
    with caplog.at_level(logging.DEBUG, logger="test"):
        results = [await webhook.apply(action(), hook_config(receiver.url), ctx) for _ in range(3)]
    assert [r.outcome for r in results] == ["conflict", "failed", "applied"]
    assert results[0].detail == "webhook reports a conflict, HTTP 409: bad signature for secret ***"
    for result in results:
        assert SECRET not in result.detail and SECRET not in str(result.response)
    assert len([r for r in caplog.records if r.name == "test"]) == 3 and SECRET not in caplog.text


# A hand-rolled validator for the keywords the schema uses (jsonschema is not installed); an unknown
# keyword fails loudly, so the schema cannot grow a rule that this check silently ignores.
KEYWORDS = {
    "$schema",
    "title",
    "description",
    "type",
    "required",
    "additionalProperties",
    "properties",
    "enum",
    "const",
    "minimum",
    "minLength",
    "format",
    "allOf",
    "if",
    "then",
}
TYPES = {"string": str, "integer": int, "object": dict, "null": type(None)}


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    assert set(schema) <= KEYWORDS, f"validator does not know {set(schema) - KEYWORDS}"
    types = [schema["type"]] if isinstance(schema.get("type"), str) else schema.get("type", list(TYPES))
    if not any(isinstance(value, TYPES[t]) and not isinstance(value, bool) for t in types):
        return [f"{path}: {value!r} is not {types}"]
    errors = []
    if "const" in schema and value != schema["const"] or "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not allowed")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: too short")
    if schema.get("format") == "date-time":
        if not value.endswith("Z") or datetime.fromisoformat(value).utcoffset() is None:
            errors.append(f"{path}: {value!r} is not a UTC date-time")
    if isinstance(value, dict):
        errors += [f"{path}: {name} missing" for name in schema.get("required", ()) if name not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{path}: {name} not allowed" for name in value if name not in schema.get("properties", {})]
        for name, sub in schema.get("properties", {}).items():
            errors += schema_errors(value[name], sub, f"{path}.{name}") if name in value else []
    for sub in schema.get("allOf", ()):
        errors += schema_errors(value, sub, path)
    if "if" in schema and not schema_errors(value, schema["if"], path):
        errors += schema_errors(value, schema["then"], path)
    return errors


@pytest.mark.parametrize("op", ["set_amount", "pause", "resume", "post_notice", "withdraw_notice"])
async def test_webhook_body_matches_the_published_schema(receiver, ctx, op):
    result = await webhook.apply(
        action(op, text="Zamów w sklepie\n(bez Facebooka)" if op == "post_notice" else None), hook_config(receiver.url), ctx
    )
    assert result.outcome == "applied"
    [(_, raw)] = receiver.requests
    assert schema_errors(json.loads(raw), SCHEMA) == []
    assert set(SCHEMA["required"]) == set(SCHEMA["properties"]) == set(json.loads(raw))
    assert SCHEMA["properties"]["op"]["enum"] == ["set_amount", "pause", "resume", "post_notice", "withdraw_notice"]
    assert all(prop.get("description") for prop in SCHEMA["properties"].values())


def test_schema_check_catches_bad_payloads():
    good = webhook.payload(action(), NOW)
    assert schema_errors(good, SCHEMA) == []
    assert schema_errors({k: v for k, v in good.items() if k != "sent_at"}, SCHEMA) == ["$: sent_at missing"]
    assert schema_errors(good | {"value": "8000"}, SCHEMA)[0].startswith("$.value: '8000' is not")
    assert schema_errors(good | {"value": None}, SCHEMA) == ["$.value: None is not ['integer']"]
    assert schema_errors(good | {"op": "delete"}, SCHEMA) == ["$.op: 'delete' not allowed"]
    assert schema_errors(good | {"attempt": 0}, SCHEMA) == ["$.attempt: 0 < 1"]
    assert schema_errors(good | {"extra": 1}, SCHEMA) == ["$: extra not allowed"]
    assert schema_errors(good | {"sent_at": "2023-11-14T22:13:20"}, SCHEMA) != []


def test_webhook_body_survives_a_reason_that_is_not_json():
    body = webhook.encode(webhook.payload(action(reason={"at": datetime(2021, 10, 4, 15, 40)}), NOW))
    assert json.loads(body)["reason"] == {"at": "2021-10-04 15:40:00"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "ftp://hooks.example.com ... is not an http(s) URL (the rest is not shown"),
        ({"url": "https://u:pw@/x?k=1"}, "https://? ... is not an http(s) URL (the rest is not shown"),
        (
            {"secret": "short"},
            "at least 16 characters; generate one (openssl rand -hex 32) and reference it from the "
            "environment: secret: ${FAILOVER_WEBHOOK_SECRET}",
        ),
        ({"timeout": 0}, "greater than 0"),
        ({"timeout": 121}, "less than or equal to 120"),
        ({"headers": {"idempotency-key": "x"}}, "header 'idempotency-key' is set by the webhook actuator itself"),
        ({"headers": {HEADER: "t=1,v1=00"}}, f"header '{HEADER}' is set by the webhook actuator itself"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, "header 'X-A' contains a line break"),
        ({"retries": 3}, "Extra inputs are not permitted"),
    ],
    ids=[
        "scheme",
        "no-host-redacted",
        "short-secret",
        "zero-timeout",
        "long-timeout",
        "idempotency-header",
        "signature-header",
        "header-injection",
        "unknown-option",
    ],
)
def test_webhook_config_errors(options, message):
    with pytest.raises(ValidationError) as info:
        webhook.Config(**({"url": "https://hooks.example.com/failover", "secret": SECRET} | options))
    [error] = info.value.errors()  # the config loader shows msg, never the input value
    assert message in error["msg"]
    assert "pw" not in error["msg"] and "short" not in error["msg"].replace("shorter", "")


# --- meta_ads ----------------------------------------------------------------------------------------


class FakeGraph:
    """The Graph API for ad sets and campaigns: GET ?fields=..., POST form fields, errors as Meta sends them."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, str]] = {ADSET: {"daily_budget": "5000", "status": "ACTIVE"}}
        self.writes: list[tuple[str, dict[str, str]]] = []
        self.fail: list[tuple[str, int, dict[str, Any], dict[str, str]]] = []  # (method, HTTP status, error, headers)
        self.tokens: list[tuple[str, str]] = []  # (where the token came from, the token)
        self.ignore_budget_writes = False

    @staticmethod
    def error(
        message: str,
        code: int,
        subcode: int | None = None,
        type_: str = "OAuthException",
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        err = {"message": message, "type": type_, "code": code, "fbtrace_id": "AbCdEf123"}
        if subcode is not None:
            err["error_subcode"] = subcode
        return web.json_response({"error": err}, status=status, headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        token = form.pop("access_token", None) if request.method == "POST" else request.query.get("access_token")
        self.tokens.append(("form" if request.method == "POST" else "query", token))
        if self.fail and self.fail[0][0] == request.method:
            _, status, err, headers = self.fail.pop(0)
            return self.error(status=status, headers=headers, **err)
        if token != TOKEN:
            return self.error(f"Invalid OAuth access token - Cannot parse access token {token}", 190)
        obj = self.objects.get(request.match_info["id"])
        if obj is None:
            return self.error(
                f"Unsupported {request.method.lower()} request. Object with ID '{request.match_info['id']}' does not exist",
                100,
                33,
                "GraphMethodException",
            )
        if request.method == "GET":
            fields = request.query.get("fields", "").split(",")
            return web.json_response({"id": request.match_info["id"], **{f: obj[f] for f in fields if f in obj}})
        if form.get("status", "ACTIVE") not in ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED"):
            return self.error("(#100) Param status must be one of {ACTIVE, PAUSED, DELETED, ARCHIVED}", 100)
        self.writes.append((request.match_info["id"], form))
        if not self.ignore_budget_writes or "daily_budget" not in form:
            obj.update(form)
        return web.json_response({"success": True}, headers={"x-fb-trace-id": "WrItE123"})


@pytest.fixture
async def graph(aiohttp_server):
    fake = FakeGraph()
    app = web.Application()
    app.router.add_route("*", "/v21.0/{id}", fake.handle)
    server = await aiohttp_server(app)
    fake.config = meta_ads.Config(access_token=TOKEN, base_url=str(server.make_url("/v21.0")))
    return fake


def our_log(caplog: pytest.LogCaptureFixture) -> str:
    """The service's log lines; the fake server's access log stands for Meta's own logs, which see the token."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")


async def test_meta_budget_is_written_and_read_back(graph, ctx):
    result = await meta_ads.apply(action(value=8000, expect=5000), graph.config, ctx)
    assert (result.outcome, result.observed, result.detail) == ("applied", 8000, "daily_budget 50.00 PLN -> 80.00 PLN")
    assert result.response == {"status": 200, "fbtrace_id": "WrItE123"}
    assert graph.writes == [(ADSET, {"daily_budget": "8000"})]
    assert graph.objects[ADSET]["daily_budget"] == "8000"
    assert graph.tokens == [("query", TOKEN), ("form", TOKEN), ("query", TOKEN)]


async def test_meta_budget_changed_by_a_human_is_a_conflict_and_nothing_is_written(graph, ctx):
    graph.objects[ADSET]["daily_budget"] = "7000"
    result = await meta_ads.apply(action(value=8000, expect=5000), graph.config, ctx)
    assert (result.outcome, result.observed) == ("conflict", 7000)
    assert result.detail == "daily_budget is 70.00 PLN, expected 50.00 PLN: changed outside channel-monitor; nothing written"
    assert graph.writes == [] and graph.objects[ADSET]["daily_budget"] == "7000"


async def test_meta_budget_already_in_place_is_applied_without_a_write(graph, ctx):
    graph.objects[ADSET]["daily_budget"] = "8000"  # the previous attempt got through before its answer was lost
    result = await meta_ads.apply(action(value=8000, expect=5000, attempt=2), graph.config, ctx)
    assert (result.outcome, result.observed, result.detail) == ("applied", 8000, "daily_budget already 80.00 PLN")
    assert graph.writes == []


async def test_meta_budget_without_expect_is_written_whatever_is_there(graph, ctx):
    graph.objects[ADSET]["daily_budget"] = "1234"
    result = await meta_ads.apply(action(value=8000, expect=None), graph.config, ctx)
    assert (result.outcome, result.observed) == ("applied", 8000)


async def test_meta_budget_read_back_that_differs_is_retry(graph, ctx):
    graph.ignore_budget_writes = True
    result = await meta_ads.apply(action(value=8000, expect=5000), graph.config, ctx)
    assert (result.outcome, result.detail, result.observed) == ("retry", "read-back shows 50.00 PLN, not 80.00 PLN", 5000)


async def test_meta_object_without_daily_budget_fails(graph, ctx):
    del graph.objects[ADSET]["daily_budget"]
    result = await meta_ads.apply(action(), graph.config, ctx)
    assert result.outcome == "failed" and result.detail.startswith(f"{ADSET} has no daily budget")


async def test_meta_pause_then_resume(graph, ctx):
    paused = await meta_ads.apply(action("pause"), graph.config, ctx)
    assert (paused.outcome, paused.detail) == ("applied", "status ACTIVE -> PAUSED")
    again = await meta_ads.apply(action("pause", attempt=2), graph.config, ctx)
    assert (again.outcome, again.detail) == ("applied", "status already PAUSED")
    resumed = await meta_ads.apply(action("resume"), graph.config, ctx)
    assert (resumed.outcome, resumed.detail) == ("applied", "status PAUSED -> ACTIVE")
    assert graph.writes == [(ADSET, {"status": "PAUSED"}), (ADSET, {"status": "ACTIVE"})]
    assert graph.objects[ADSET] == {"daily_budget": "5000", "status": "ACTIVE"}


@pytest.mark.parametrize("status", ["ARCHIVED", "DELETED"])
async def test_meta_pause_of_an_archived_or_deleted_object_fails(graph, ctx, status):
    graph.objects[ADSET]["status"] = status
    result = await meta_ads.apply(action("pause"), graph.config, ctx)
    assert (result.outcome, result.detail) == ("failed", f"{ADSET} is {status}; Meta does not allow changing it")
    assert graph.writes == []


RATE_LIMITS = {
    17: ("User request limit reached", 2446079),
    613: ("There have been too many calls from this ad-account. Please wait a bit and try again.", 1487742),
    4: ("Application request limit reached", None),
    32: ("Page request limit reached", None),
    80004: ("There have been too many calls to this ad-account.", 2446079),
}


@pytest.mark.parametrize("code", list(RATE_LIMITS), ids=str)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_meta_rate_limit_is_retry_after_60s(graph, ctx, code, method):
    message, subcode = RATE_LIMITS[code]
    graph.fail.append((method, 400, {"message": message, "code": code, "subcode": subcode}, {}))
    result = await meta_ads.apply(action(), graph.config, ctx)
    assert (result.outcome, result.retry_after) == ("retry", 60.0)
    assert result.detail.startswith(f"rate limited: Graph API HTTP 400, error {code}")
    assert result.response["fbtrace_id"] == "AbCdEf123" and result.response["code"] == code


async def test_meta_rate_limit_waits_as_long_as_the_usage_header_says(graph, ctx):
    usage = {
        "2222": [{"type": "ads_insights", "estimated_time_to_regain_access": 0}],
        "1111": [
            {"type": "ads_management", "call_count": 100, "total_cputime": 20, "total_time": 20, "estimated_time_to_regain_access": 7}
        ],
    }
    graph.fail.append(
        (
            "GET",
            400,
            {"message": "User request limit reached", "code": 17, "subcode": 2446079},
            {"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
    )
    result = await meta_ads.apply(action(), graph.config, ctx)
    assert (result.outcome, result.retry_after) == ("retry", 420.0)


async def test_meta_rate_limit_with_an_unreadable_usage_header_waits_60s(graph, ctx):
    graph.fail.append(("GET", 400, {"message": "User request limit reached", "code": 17}, {"X-Business-Use-Case-Usage": "{not json"}))
    assert (await meta_ads.apply(action(), graph.config, ctx)).retry_after == 60.0


async def test_meta_invalid_token_fails_and_the_token_is_never_shown(graph, ctx, caplog):
    config = meta_ads.Config(access_token="EAAB-revoked-token-987", base_url=graph.config.base_url)
    with caplog.at_level(logging.DEBUG):
        result = await meta_ads.apply(action(), config, ctx)
    assert result.outcome == "failed"
    assert result.detail == "Graph API HTTP 400, error 190: Invalid OAuth access token - Cannot parse access token ***"
    assert "EAAB-revoked-token-987" not in our_log(caplog) + str(result.response)


async def test_meta_token_never_in_details_or_logs(graph, ctx, caplog):
    graph.fail.append(("POST", 500, {"message": f"An unexpected error has occurred ({TOKEN})", "code": 2}, {}))
    with caplog.at_level(logging.DEBUG):
        results = [
            await meta_ads.apply(a, graph.config, ctx)
            for a in (action(), action(), action("pause"), action(target="999"), action("post_notice"))
        ]
    assert [r.outcome for r in results] == ["retry", "applied", "applied", "failed", "failed"]
    assert results[0].detail == "Graph API HTTP 500, error 2: An unexpected error has occurred (***)"
    for result in results:
        assert TOKEN not in result.detail + str(result.response)
    assert "meta_ads: daily_budget of" in our_log(caplog) and TOKEN not in our_log(caplog)


@pytest.mark.parametrize(
    ("status", "err", "outcome"),
    [
        (400, {"message": "(#100) Invalid parameter", "code": 100, "subcode": 1487891}, "failed"),
        (400, {"message": "(#803) Some of the aliases you requested do not exist", "code": 803}, "failed"),
        (500, {"message": "An unknown error has occurred.", "code": 1}, "retry"),
        (503, {"message": "Service temporarily unavailable", "code": 2}, "retry"),
        (400, {"message": "Please reduce the amount of data", "code": 1, "subcode": 99}, "retry"),
        (400, {"message": "(#200) Permissions error", "code": 200}, "failed"),
    ],
    ids=["100-invalid-parameter", "803-unknown-object", "500-code-1", "503-code-2", "400-code-1", "200-permissions"],
)
async def test_meta_graph_errors(graph, ctx, status, err, outcome):
    graph.fail.append(("GET", status, err, {}))
    result = await meta_ads.apply(action(), graph.config, ctx)
    assert result.outcome == outcome and result.retry_after is None
    assert result.response == {"status": status, "code": err["code"], "error_subcode": err.get("subcode"), "fbtrace_id": "AbCdEf123"}


async def test_meta_unknown_object_fails(graph, ctx):
    result = await meta_ads.apply(action("pause", target="120299999999999"), graph.config, ctx)
    assert result.outcome == "failed" and result.detail.startswith("Graph API HTTP 400, error 100/33: Unsupported get")


async def test_meta_html_error_page_is_retry(aiohttp_server, ctx):
    app = web.Application()

    async def bad_gateway(_: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>Bad gateway</html>")

    app.router.add_get("/v21.0/{id}", bad_gateway)
    server = await aiohttp_server(app)
    config = meta_ads.Config(access_token=TOKEN, base_url=str(server.make_url("/v21.0")))
    result = await meta_ads.apply(action(), config, ctx)
    assert (result.outcome, result.detail) == ("retry", "Graph API HTTP 502")


async def test_meta_redirect_is_not_followed_with_the_token(aiohttp_server, ctx):
    followed: list[str] = []

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        followed.append(request.path_qs)
        return web.json_response({"status": "PAUSED"})

    app = web.Application()
    app.router.add_get("/v21.0/{id}", moved)
    app.router.add_get("/elsewhere", elsewhere)
    server = await aiohttp_server(app)
    config = meta_ads.Config(access_token=TOKEN, base_url=str(server.make_url("/v21.0")))
    result = await meta_ads.apply(action("pause"), config, ctx)
    assert (result.outcome, result.detail, followed) == (
        "failed",
        "Graph API HTTP 302: a redirect, which is not followed; check base_url",
        [],
    )


async def test_meta_unreachable_is_retry(ctx):
    config = meta_ads.Config(access_token=TOKEN, base_url=f"http://127.0.0.1:{closed_port()}/v21.0")
    result = await meta_ads.apply(action("pause"), config, ctx)
    assert result.outcome == "retry" and result.detail.startswith("Graph API unreachable: connection refused by 127.0.0.1:")


@pytest.mark.parametrize("op", ["post_notice", "withdraw_notice"])
async def test_meta_does_not_post_notices(graph, ctx, op):
    result = await meta_ads.apply(action(op), graph.config, ctx)
    assert (result.outcome, result.detail) == ("failed", "meta_ads does not post notices; use a webhook actuator")
    assert graph.tokens == []


@pytest.mark.parametrize("target", ["", "act_123", "../me", "123?fields=x", "123\n"], ids=["empty", "act", "dots", "query", "newline"])
async def test_meta_target_must_be_an_object_id(graph, ctx, target):
    result = await meta_ads.apply(action(target=target), graph.config, ctx)
    assert result.outcome == "failed" and "is not a Meta ad set or campaign id" in result.detail
    assert graph.tokens == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"access_token": " "}, "the access token is empty; reference a system user token: access_token: ${META_ACCESS_TOKEN}"),
        ({"base_url": "graph.facebook.com/v21.0"}, "is not an http(s) base URL; write e.g. https://graph.facebook.com/v21.0"),
        ({"timeout": -1}, "greater than 0"),
    ],
    ids=["empty-token", "no-scheme", "negative-timeout"],
)
def test_meta_config_errors(options, message):
    with pytest.raises(ValidationError) as info:
        meta_ads.Config(**({"access_token": TOKEN} | options))
    [error] = info.value.errors()
    assert message in error["msg"]


def test_meta_config_defaults_to_the_graph_api():
    config = meta_ads.Config(access_token=TOKEN)
    assert (config.base_url, config.timeout) == ("https://graph.facebook.com/v21.0", 15)
    assert TOKEN not in repr(config)


# --- log and registry ---------------------------------------------------------------------------------


async def test_log_actuator_logs_one_line_and_applies(ctx, caplog):
    with caplog.at_level(logging.INFO, logger="test"):
        result = await log.apply(action(), log.Config(), ctx)
        notice = await log.apply(action("post_notice", text="Meta is down.\nOrder here."), log.Config(), ctx)
    assert result == notice == ActionResult.applied("logged")
    first, second = caplog.records
    assert first.getMessage() == (
        f"failover (log only): set_amount promotion black-friday on channel meta, target {ADSET}, value 80.00 PLN, key act-7f3a"
    )
    assert second.getMessage() == (
        "failover (log only): post_notice notice meta-down on channel meta, "
        f"target {ADSET}, text 'Meta is down.\\nOrder here.', key act-7f3a"
    )
    assert first.op == "set_amount" and first.action_key == "act-7f3a"


def test_registry_holds_every_actuator_kind():
    assert ACTUATORS == {"webhook": webhook.KIND, "meta_ads": meta_ads.KIND, "google_ads": google_ads.KIND, "log": log.KIND}
    for kind in ACTUATORS.values():
        assert kind.description and callable(kind.apply)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        log.Config(verbose=True)
