"""The google_ads actuator against a loopback fake of the Google Ads REST API and Google's OAuth token endpoint
(tests/support/google_ads.py): budgets in micros with read-back, conflicts, quota and transient errors with their
delays, expired tokens, permanent errors with what to fix, validate-only, and no secret ever shown."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from aiohttp import web

from monitor.failover.actions import ActuatorContext
from monitor.failover.actuators import ACTUATORS, google_ads
from tests.support.actuators import NOW, action
from tests.support.google_ads import CLIENT_ID, CLIENT_SECRET, DEVELOPER_TOKEN, REFRESH_TOKEN, FakeGoogleAds, failure

BUDGET = "customers/1234567890/campaignBudgets/555"
CAMPAIGN = "customers/1234567890/campaigns/777"


@pytest.fixture
async def ads(aiohttp_server):
    fake = FakeGoogleAds()
    fake.budgets[BUDGET] = 500_000_000  # 500.00 PLN a day
    fake.campaigns[CAMPAIGN] = "ENABLED"
    server = await aiohttp_server(fake.app)
    fake.config = google_ads.Config(
        developer_token=DEVELOPER_TOKEN,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        base_url=str(server.make_url("/v26")),
        token_url=str(server.make_url("/token")),
    )
    return fake


def budget(**kw):
    return action(**({"target": BUDGET, "value": 62500, "expect": 50000} | kw))  # 500.00 PLN -> 625.00 PLN


async def test_a_budget_is_written_in_micros_and_read_back(ads, ctx):
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert (result.outcome, result.detail, result.observed) == ("applied", "daily budget 500.00 PLN -> 625.00 PLN", 62500)
    assert ads.budgets[BUDGET] == 625_000_000
    [operation] = ads.mutations
    assert operation == {"update": {"resourceName": BUDGET, "amountMicros": "625000000"}, "updateMask": "amountMicros"}
    methods = [m for m, _ in ads.calls]
    assert methods == ["googleAds:search", "campaignBudgets:mutate", "googleAds:search"]  # read, write, read back
    assert ads.token_requests == 1


@pytest.mark.parametrize(("unit", "value", "micros"), [("JPY", 80000, 80_000_000_000), ("KWD", 12345, 12_345_000), ("PLN", 1, 10_000)])
async def test_minor_units_become_micros_exactly_for_every_currency(ads, ctx, unit, value, micros):
    ads.budgets[BUDGET] = micros + 10_000_000
    ads.minimum_unit_micros = 1_000 if unit == "KWD" else 10_000
    result = await google_ads.apply(budget(unit=unit, value=value, expect=None), ads.config, ctx)
    assert result.outcome == "applied" and ads.budgets[BUDGET] == micros


async def test_a_budget_changed_outside_is_a_conflict_and_nothing_is_written(ads, ctx):
    ads.budgets[BUDGET] = 450_000_000  # someone set 450.00 PLN in the Google Ads UI
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert result.outcome == "conflict" and result.observed == 45000
    assert result.detail == "daily budget is 450.00 PLN, expected 500.00 PLN: changed outside channel-monitor; nothing written"
    assert ads.mutations == []


async def test_a_budget_already_in_place_is_applied_without_a_write(ads, ctx):
    ads.budgets[BUDGET] = 625_000_000  # an earlier attempt got through before its answer was lost
    result = await google_ads.apply(budget(attempt=2), ads.config, ctx)
    assert (result.outcome, result.detail) == ("applied", "daily budget already 625.00 PLN")
    assert ads.mutations == []


async def test_a_quota_error_is_retried_after_the_api_s_retry_delay(ads, ctx):
    ads.fail(
        "campaignBudgets:mutate",
        web.json_response(
            failure(
                429,
                "RESOURCE_EXHAUSTED",
                "Too many requests",
                ({"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"}, "Too many requests. Retry in 42 seconds."),
                details={"quotaErrorDetails": {"rateScope": "ACCOUNT", "rateName": "RequestsPerOperationPerAccount", "retryDelay": "42s"}},
            ),
            status=429,
        ),
    )
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert (result.outcome, result.retry_after) == ("retry", 42.0)
    assert result.detail.startswith("quota: Google Ads HTTP 429 RESOURCE_EXHAUSTED: Too many requests. Retry in 42 seconds.")
    assert result.response["errors"] == ["quotaError.RESOURCE_TEMPORARILY_EXHAUSTED"]
    assert ads.mutations == []
    assert (await google_ads.apply(budget(attempt=2), ads.config, ctx)).outcome == "applied"  # the next attempt goes through


@pytest.mark.parametrize(
    ("status", "grpc", "headers", "after"), [(503, "UNAVAILABLE", {}, None), (429, "RESOURCE_EXHAUSTED", {"Retry-After": "7"}, 7.0)]
)
async def test_transient_errors_are_retried(ads, ctx, status, grpc, headers, after):
    ads.fail(
        "googleAds:search",
        web.json_response(failure(status, grpc, "The service is currently unavailable."), status=status, headers=headers),
    )
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert result.outcome == "retry" and (after is None or result.retry_after == after)


async def test_an_expired_access_token_is_refreshed_once_and_the_request_goes_through(ads, ctx):
    assert (await google_ads.apply(budget(), ads.config, ctx)).outcome == "applied"
    ads.expire_tokens()  # revoked, or expired earlier than said
    result = await google_ads.apply(action(target=BUDGET, value=70000, expect=62500), ads.config, ctx)
    assert result.outcome == "applied" and ads.budgets[BUDGET] == 700_000_000
    assert ads.token_requests == 2


async def test_a_token_near_its_expiry_is_renewed_before_it_is_used(ads, ctx):
    ads.expires_in = 120
    assert (await google_ads.apply(budget(), ads.config, ctx)).outcome == "applied"
    later = replace(ctx, clock=lambda: NOW + 61)  # 59 s left: under the minute kept in hand
    ads.now = NOW + 61
    assert (await google_ads.apply(action(target=BUDGET, value=70000, expect=62500), ads.config, later)).outcome == "applied"
    assert ads.token_requests == 2


async def test_a_revoked_refresh_token_fails_and_says_to_make_a_new_one(ads, ctx):
    ads.token_error = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert result.outcome == "failed"
    assert result.detail == (
        "OAuth token refresh: HTTP 400, invalid_grant: Token has been expired or revoked.; the refresh token was revoked "
        "or has expired: create a new one for this OAuth client and put it in refresh_token"
    )
    assert ads.calls == []


async def test_a_manager_account_s_client_without_login_customer_id_is_told_to_set_it(ads, ctx):
    ads.managed["1234567890"] = "9876543210"
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert result.outcome == "failed"
    assert "no access to customer 1234567890 (reached through a manager account? set login_customer_id)" in result.detail
    managed = ads.config.model_copy(update={"login_customer_id": "9876543210"})
    assert (await google_ads.apply(budget(), managed, ctx)).outcome == "applied"


async def test_a_wrong_developer_token_is_permanent_and_names_what_to_check(ads, ctx):
    wrong = ads.config.model_copy(update={"developer_token": google_ads.Config.model_fields["developer_token"].annotation("nope-123")})
    result = await google_ads.apply(budget(), wrong, ctx)
    assert result.outcome == "failed"
    assert "authentication failed: check developer_token, client_id, client_secret and refresh_token" in result.detail


async def test_an_unknown_budget_fails_with_what_to_check(ads, ctx):
    result = await google_ads.apply(action(target="customers/1234567890/campaignBudgets/999"), ads.config, ctx)
    assert result.outcome == "failed" and result.detail.startswith("no campaignBudget found for this target in customer 1234567890")


async def test_a_partial_failure_answered_with_200_is_the_error_it_carries(ads, ctx):
    partial = failure(
        400, "INVALID_ARGUMENT", "Multiple errors", ({"campaignBudgetError": "MONEY_AMOUNT_TOO_LARGE"}, "Money amount too large.")
    )
    ads.fail("campaignBudgets:mutate", web.json_response({"partialFailureError": partial["error"], "results": [{}]}))
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert result.outcome == "failed" and "Money amount too large." in result.detail
    assert result.response["errors"] == ["campaignBudgetError.MONEY_AMOUNT_TOO_LARGE"]


async def test_a_rejected_amount_is_permanent_with_google_s_reason(ads, ctx):
    ads.fail(
        "campaignBudgets:mutate",
        web.json_response(
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
        ),
    )
    result = await google_ads.apply(budget(), ads.config, ctx)
    assert result.outcome == "failed"
    assert result.detail == "Google Ads HTTP 400 INVALID_ARGUMENT: Budget amount must be a multiple of the minimum currency unit."


async def test_a_campaign_is_paused_and_enabled_with_read_back(ads, ctx):
    paused = await google_ads.apply(action("pause", target=CAMPAIGN), ads.config, ctx)
    assert (paused.outcome, paused.detail, ads.campaigns[CAMPAIGN]) == ("applied", "status ENABLED -> PAUSED", "PAUSED")
    resumed = await google_ads.apply(action("resume", target=CAMPAIGN), ads.config, ctx)
    assert (resumed.outcome, resumed.detail, ads.campaigns[CAMPAIGN]) == ("applied", "status PAUSED -> ENABLED", "ENABLED")
    ads.campaigns[CAMPAIGN] = "REMOVED"
    assert (await google_ads.apply(action("pause", target=CAMPAIGN), ads.config, ctx)).outcome == "failed"


async def test_pausing_a_budget_pauses_every_campaign_that_spends_from_it(ads, ctx):
    other = "customers/1234567890/campaigns/778"
    ads.campaigns[other] = "ENABLED"
    ads.campaign_budget |= {CAMPAIGN: BUDGET, other: BUDGET}  # Shopping and Performance Max share the budget
    paused = await google_ads.apply(action("pause", target=BUDGET), ads.config, ctx)
    assert (paused.outcome, paused.detail) == ("applied", "status ENABLED -> PAUSED on 2 campaigns")
    assert ads.campaigns[CAMPAIGN] == ads.campaigns[other] == "PAUSED"
    again = await google_ads.apply(action("pause", target=BUDGET, attempt=2), ads.config, ctx)
    assert (again.outcome, again.detail) == ("applied", "status already PAUSED (2 campaigns)")
    resumed = await google_ads.apply(action("resume", target=BUDGET), ads.config, ctx)
    assert resumed.outcome == "applied" and ads.campaigns[CAMPAIGN] == ads.campaigns[other] == "ENABLED"
    ads.campaign_budget.clear()
    orphan = await google_ads.apply(action("pause", target=BUDGET), ads.config, ctx)
    assert orphan.outcome == "failed" and orphan.detail.startswith(f"no campaign found for {BUDGET}")


async def test_validate_only_says_whether_it_would_be_accepted_and_changes_nothing(ads, ctx):
    would = await google_ads.validate(budget(), ads.config, ctx)
    assert (would.outcome, would.detail) == ("applied", "would set the daily budget 500.00 PLN -> 625.00 PLN")
    assert ads.budgets[BUDGET] == 500_000_000 and ads.calls[-1][1]["validateOnly"] is True
    rejected = await google_ads.validate(budget(value=62501, unit="KWD", expect=None), ads.config, ctx)  # not a whole 0.01 unit in micros
    assert rejected.outcome == "failed" and ads.budgets[BUDGET] == 500_000_000


@pytest.mark.parametrize(
    ("op", "target", "message"),
    [
        (
            "set_amount",
            "555",
            "is not a Google Ads resource name for set_amount; write a campaign budget, e.g. customers/1234567890/campaignBudgets/987654321",
        ),
        ("set_amount", CAMPAIGN, "not a Google Ads resource name for set_amount; write a campaign budget"),
        ("pause", "campaigns/777", "(or a campaign, customers/1234567890/campaigns/123456789)"),
        ("post_notice", CAMPAIGN, "google_ads does not post notices; use a webhook actuator"),
    ],
)
async def test_targets_and_ops_it_cannot_work_on_fail_before_any_request(ads, ctx, op, target, message):
    result = await google_ads.apply(action(op, target=target), ads.config, ctx)
    assert result.outcome == "failed" and message in result.detail and ads.calls == [] and ads.token_requests == 0


async def test_a_weight_promotion_is_refused(ads, ctx):
    result = await google_ads.apply(budget(unit="weight"), ads.config, ctx)
    assert result.outcome == "failed" and "sets budgets in a currency; this promotion's unit is 'weight'" in result.detail


async def test_no_secret_is_ever_in_a_detail_or_a_log_line(ads, caplog):
    ads.fail(
        "campaignBudgets:mutate",
        web.json_response(
            failure(400, "INVALID_ARGUMENT", f"bad {REFRESH_TOKEN} {DEVELOPER_TOKEN}", ({"requestError": "X"}, f"echo {CLIENT_SECRET}")),
            status=400,
        ),
    )
    from monitor.core.http import USER_AGENT
    from probes.guard import NetworkGuard
    from probes.session import create_outbound_session

    async with create_outbound_session(USER_AGENT, NetworkGuard(["127.0.0.0/8"])) as http:
        ctx = ActuatorContext(http=http, log=logging.getLogger("monitor.actuators"), clock=lambda: NOW)
        with caplog.at_level(logging.DEBUG):
            results = [await google_ads.apply(budget(), ads.config, ctx), await google_ads.apply(budget(attempt=2), ads.config, ctx)]
    shown = caplog.text + "".join(r.detail + repr(r.response) for r in results)
    for secret in (DEVELOPER_TOKEN, CLIENT_SECRET, REFRESH_TOKEN, "ya29.fake"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"developer_token": " "},
            "developer_token is empty; reference it from the environment: developer_token: ${GOOGLE_ADS_DEVELOPER_TOKEN}",
        ),
        ({"refresh_token": ""}, "refresh_token is empty"),
        ({"login_customer_id": "12-34"}, "is not a Google Ads customer id; write the manager account's 10 digits, e.g. 123-456-7890"),
        ({"base_url": "googleads.googleapis.com"}, "is not an http(s) URL"),
    ],
)
def test_config_errors_say_what_to_write(options, message):
    base = {"developer_token": "d", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")
    ):
        google_ads.Config(**(base | options))


def test_the_registry_has_it_with_its_validate_only_mode():
    assert ACTUATORS["google_ads"] is google_ads.KIND and google_ads.KIND.validate is google_ads.validate
    assert (
        google_ads.Config(
            developer_token="d", client_id="c", client_secret="s", refresh_token="r", login_customer_id="123-456-7890"
        ).login_customer_id
        == "1234567890"
    )


async def test_a_dry_run_plan_is_rehearsed_with_validate_only_and_nothing_changes(tmp_path, aiohttp_server):
    from monitor.app import create_app
    from monitor.running import MONITOR
    from monitor.store.models import FailoverActionRow
    from tests.fakes import FakeChannel, eventually, serve
    from tests.support import config as cfg

    ads = FakeGoogleAds()
    ads.now = 4_000_000_000.0  # the service runs on the real clock: its tokens must outlive it here
    server = await aiohttp_server(ads.app)
    fakes = {c: await serve(aiohttp_server, FakeChannel()) for c in ("shop", "allegro", "facebook")}
    normal = {"shop": 50000, "allegro": 30000, "facebook": 20000}
    for i, value in enumerate(normal.values(), start=1):
        ads.budgets[f"customers/1234567890/campaignBudgets/{i}"] = value * 10_000
        ads.campaigns[f"customers/1234567890/campaigns/{i}0"] = "ENABLED"  # each budget's campaign (Shopping, PMax...)
        ads.campaign_budget[f"customers/1234567890/campaigns/{i}0"] = f"customers/1234567890/campaignBudgets/{i}"
    actuator = {
        "id": "gads",
        "kind": "google_ads",
        "developer_token": DEVELOPER_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "base_url": str(server.make_url("/v26")),
        "token_url": str(server.make_url("/token")),
    }
    promotion = cfg.promotion(normal, total=100000, mode="dry-run", actuator="gads")
    for i, placement in enumerate(promotion["channels"].values()):
        placement["target"] = f"customers/1234567890/campaignBudgets/{i + 1}"
    section = {"timing": {"hold_down": "0s", "failback_after": "0s", "settle": "0s"}, "actuators": [actuator], "promotions": [promotion]}
    config = cfg.config([cfg.channel(c, f.url) for c, f in fakes.items()], data_dir=tmp_path, failover=section)
    app = create_app(config, flush_interval=0.05)
    from aiohttp.test_utils import TestClient, TestServer

    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        monitor = app[MONITOR]
        await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
        fakes["facebook"].mode = "error"

        def verdicts() -> dict[str, str]:
            with monitor.engine.connect() as conn:
                rows = conn.execute(FailoverActionRow.__table__.select()).all()
            return {r.channel: r.last_error for r in rows if r.status == "dry_run" and r.last_error}

        await eventually(lambda: len(verdicts()) == 3, timeout=15)
        shown = verdicts()
        assert shown["shop"] == "would be accepted: would set the daily budget 500.00 PLN -> 625.00 PLN"
        assert shown["facebook"] == "would be accepted: would set the status ENABLED -> PAUSED"  # the budget's campaign
        assert ads.mutations == [] and all(body["validateOnly"] for m, body in ads.calls if m.endswith(":mutate"))
    finally:
        await client.close()
