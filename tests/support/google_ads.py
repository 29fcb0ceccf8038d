"""A fake Google Ads API and OAuth token endpoint on loopback, answering in the documented REST shapes.

- POST /token: the OAuth refresh-token grant (form fields), {"access_token", "expires_in", "token_type"}; errors as
  {"error": "invalid_grant", "error_description": ...}.
- POST /v26/customers/{id}/googleAds:search {"query": "SELECT ... WHERE <entity>.resource_name = '<name>'"}:
  {"results": [{"campaignBudget": {"resourceName", "amountMicros": "<int64 as string>"}}]} or campaign/status.
- POST /v26/customers/{id}/campaignBudgets:mutate and campaigns:mutate: {"operations": [{"update": {...},
  "updateMask": "amountMicros" | "status"}], "validateOnly": bool, "partialFailure": bool}; {"results":
  [{"resourceName"}]}; errors {"error": {"code", "message", "status", "details": [GoogleAdsFailure]}}.

Every API request must carry `developer-token`, a live `Authorization: Bearer` token issued by /token (tokens
expire on the fake's own clock, or when the test says), and `login-customer-id` for customers the test put
behind a manager account. Answers can be scripted per method, one per request (like tests/fakes_slack.py).
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from typing import Any

from aiohttp import web

DEVELOPER_TOKEN = "dev-token-abcdef123456"
CLIENT_ID = "1234-fake.apps.googleusercontent.com"
CLIENT_SECRET = "client-secret-0987"
REFRESH_TOKEN = "1//refresh-token-xyz"
WHERE = re.compile(r"WHERE (campaign_budget|campaign)\.(resource_name|campaign_budget) = '([^']+)'")


def failure(status: int, grpc: str, message: str, *errors: tuple[dict[str, str], str], details: dict | None = None) -> dict[str, Any]:
    """An error body as the REST interface sends it, with a GoogleAdsFailure detail."""
    ads_errors = []
    for code, text in errors:
        entry: dict[str, Any] = {"errorCode": code, "message": text}
        if details:
            entry["details"] = details
        ads_errors.append(entry)
    return {
        "error": {
            "code": status,
            "message": message,
            "status": grpc,
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    "errors": ads_errors,
                    "requestId": "req-fake-1",
                }
            ],
        }
    }


class FakeGoogleAds:
    def __init__(self) -> None:
        self.budgets: dict[str, int] = {}  # resource name -> amount micros
        self.campaigns: dict[str, str] = {}  # resource name -> status
        self.campaign_budget: dict[str, str] = {}  # campaign resource name -> the budget it spends from
        self.managed: dict[str, str] = {}  # customer id -> the manager account that must be login-customer-id
        self.tokens: dict[str, float] = {}  # access token -> expiry (the fake's clock)
        self.now = 1_700_000_000.0
        self.expires_in = 3599
        self.minimum_unit_micros = 10_000  # the account currency's smallest unit (0.01 PLN); budgets are multiples
        self.token_error: dict[str, Any] | None = None  # answer every /token with this (400)
        self.script: dict[str, deque[web.Response]] = defaultdict(deque)
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (method, body) of every API request
        self.token_requests = 0
        self.mutations: list[dict[str, Any]] = []  # operations applied (not validate-only)
        self.app = web.Application()
        self.app.router.add_post("/token", self._token)
        self.app.router.add_post("/v26/customers/{customer}/{method}", self._api)

    def fail(self, method: str, *responses: web.Response) -> None:
        self.script[method].extend(responses)

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (Google revoked them, or they ran out early)."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if self.token_error is not None:
            return web.json_response(self.token_error, status=400)
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) != (
            "refresh_token",
            CLIENT_ID,
            CLIENT_SECRET,
            REFRESH_TOKEN,
        ):
            return web.json_response({"error": "invalid_client", "error_description": "Unauthorized"}, status=401)
        token = f"ya29.fake-{self.token_requests}"
        self.tokens[token] = self.now + self.expires_in
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/adwords",
            }
        )

    async def _api(self, request: web.Request) -> web.Response:
        customer, method = request.match_info["customer"], request.match_info["method"]
        body = await request.json()
        self.calls.append((method, body))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if request.headers.get("developer-token") != DEVELOPER_TOKEN:
            return web.json_response(
                failure(
                    401,
                    "UNAUTHENTICATED",
                    "The developer token is not valid.",
                    ({"authenticationError": "DEVELOPER_TOKEN_INVALID"}, "The developer token is not valid."),
                ),
                status=401,
            )
        if not auth.startswith("Bearer ") or self.tokens.get(token, 0.0) <= self.now:
            return web.json_response(
                failure(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials.",
                    ({"authenticationError": "OAUTH_TOKEN_EXPIRED"}, "Expired OAuth token"),
                ),
                status=401,
            )
        if customer in self.managed and request.headers.get("login-customer-id") != self.managed[customer]:
            return web.json_response(
                failure(
                    403,
                    "PERMISSION_DENIED",
                    "The caller does not have permission",
                    ({"authorizationError": "USER_PERMISSION_DENIED"}, "User doesn't have permission to access customer."),
                ),
                status=403,
            )
        if self.script[method]:
            return self.script[method].popleft()
        if method == "googleAds:search":
            return self._search(body)
        if method in ("campaignBudgets:mutate", "campaigns:mutate"):
            return self._mutate(method, body)
        return web.json_response(failure(404, "NOT_FOUND", f"unknown method {method}"), status=404)

    def _search(self, body: dict[str, Any]) -> web.Response:
        match = WHERE.search(body.get("query", ""))
        if match is None:
            return web.json_response(
                failure(400, "INVALID_ARGUMENT", "bad query", ({"queryError": "UNEXPECTED_END_OF_QUERY"}, "bad query")), status=400
            )
        entity, field, name = match.groups()
        if entity == "campaign_budget" and name in self.budgets:
            budget = {"resourceName": name, "amountMicros": str(self.budgets[name])}
            return web.json_response(
                {"results": [{"campaignBudget": budget}], "fieldMask": "campaignBudget.amountMicros", "requestId": "req-s"}
            )
        if entity == "campaign":
            names = [name] if field == "resource_name" else [c for c, b in self.campaign_budget.items() if b == name]
            rows = [{"campaign": {"resourceName": c, "status": self.campaigns[c]}} for c in names if c in self.campaigns]
            if rows:
                return web.json_response({"results": rows, "fieldMask": "campaign.resourceName,campaign.status", "requestId": "req-s"})
        return web.json_response({"fieldMask": "campaignBudget.amountMicros", "requestId": "req-s"})  # no rows: no "results"

    def _mutate(self, method: str, body: dict[str, Any]) -> web.Response:
        store: dict[str, Any] = self.budgets if method == "campaignBudgets:mutate" else self.campaigns
        field = "amountMicros" if store is self.budgets else "status"
        for operation in body["operations"]:  # all or nothing (partialFailure is not asked for)
            update, mask = operation["update"], operation["updateMask"]
            name = update["resourceName"]
            if mask != field or name not in store:
                error = (
                    ({"mutateError": "RESOURCE_NOT_FOUND"}, f"Resource was not found: {name}")
                    if name not in store
                    else ({"fieldMaskError": "FIELD_NOT_FOUND"}, f"bad update mask {mask}")
                )
                return web.json_response(failure(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", error), status=400)
            if store is self.budgets and int(update[field]) % self.minimum_unit_micros != 0:
                return web.json_response(
                    failure(
                        400,
                        "INVALID_ARGUMENT",
                        "Request contains an invalid argument.",
                        (
                            {"campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"},
                            "Budget amount must be a multiple of the minimum currency unit.",
                        ),
                    ),
                    status=400,
                )
        if body.get("validateOnly"):
            return web.json_response({"results": [], "requestId": "req-m"})
        for operation in body["operations"]:
            update = operation["update"]
            store[update["resourceName"]] = int(update[field]) if store is self.budgets else update[field]
            self.mutations.append(operation)
        return web.json_response(
            {"results": [{"resourceName": o["update"]["resourceName"]} for o in body["operations"]], "requestId": "req-m"}
        )
