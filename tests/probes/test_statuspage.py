"""The status page probe against canned Statuspage and metastatus documents served on 127.0.0.1.

Checks are built with parse_config (options validated as in production) and run through
monitor.runner.run_probe (the runner's deadline applies), with the production client session.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from monitor.config import ConfigError
from monitor.runner import CheckResult
from probes import statuspage
from probes.guard import ALLOW_NOTHING
from probes.session import create_http_session
from tests.support import ROOT
from tests.support.probes import build_check, closed_port

DATA = ROOT / "tests" / "data" / "statuspage"
SUMMARY = json.loads((DATA / "summary.json").read_text())
# Every non-group component of the canned Shopify page, in page order.
NAMES = "Admin, Checkout, Storefront, API & Mobile, Point of Sale, Reports and Analytics, Support, Payment Providers, Shipping Carriers"
ORG_IDS = "fb-ig-shops, whatsapp-business-api, ads-manager, catalog, marketing-api, graph-api"
CHANNEL = {"channel_id": "shopify", "channel_name": "Shopify"}  # build_check options for every check here


@pytest.fixture
def run_status(probe_runner) -> Callable[..., Awaitable[CheckResult]]:
    """run_status(target, **options) -> CheckResult, through the real runner."""
    return functools.partial(probe_runner, "statuspage", **CHANNEL)


async def serve(
    aiohttp_server, body: bytes | str, *, status: int = 200, content_type: str = "application/json", path: str = "/api/v2/summary.json"
) -> str:
    async def answer(_request):
        return web.Response(body=body.encode() if isinstance(body, str) else body, status=status, content_type=content_type)

    app = web.Application()
    app.router.add_get(path, answer)
    server = await aiohttp_server(app)
    return str(server.make_url(path))


async def serve_file(aiohttp_server, name: str) -> str:
    return await serve(aiohttp_server, (DATA / name).read_bytes(), path=f"/{name}")


def summary(**changes: Any) -> str:
    """The canned summary.json with status fields or component statuses changed."""
    doc = copy.deepcopy(SUMMARY)
    for key, value in changes.items():
        if key in ("indicator", "description"):
            doc["status"][key] = value
        else:
            next(c for c in doc["components"] if c["name"] == key)["status"] = value
    return json.dumps(doc)


# --- Atlassian Statuspage: whole page ----------------------------------------------------------


async def test_all_operational_page_is_ok_and_reports_indicator_components_and_update_time(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "summary-operational.json")
    outcome = await run_status(url)

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (True, None, None)
    assert dict(r.facts) == {
        "indicator": "none",
        "page_updated_at": "2024-12-02T08:15:40.102Z",
        "status": 200,
        "components_checked": 9,
        "worst_status": "operational",
    }  # the group is not counted
    assert (outcome.channel, outcome.check, outcome.kind) == ("shopify", "statuspage", "statuspage")


BAD_COMPONENTS = (
    "Checkout major_outage, Storefront partial_outage, Payment Providers partial_outage, "
    "Admin degraded_performance, Point of Sale under_maintenance"
)


@pytest.mark.parametrize(
    ("indicator", "description", "expected"),
    [
        ("none", "All Systems Operational", (True, None, "down")),
        ("minor", "Minor Service Outage", (False, "vendor_degraded", "degraded")),
        ("major", "Partial System Outage", (False, "vendor_degraded", "degraded")),
        ("critical", "Major System Outage", (False, "vendor_outage", "down")),
        ("maintenance", "Service Under Maintenance", (False, "vendor_maintenance", "degraded")),
    ],
    ids=["none-ok-even-with-bad-components", "minor-degraded", "major-degraded", "critical-down", "maintenance"],
)
async def test_without_components_the_page_indicator_decides(aiohttp_server, run_status, indicator, description, expected):
    url = await serve(aiohttp_server, summary(indicator=indicator, description=description))
    r = (await run_status(url)).result

    assert (r.ok, r.error_class, r.severity) == expected
    assert (r.facts["indicator"], r.facts["components_checked"], r.facts["worst_status"]) == (indicator, 9, "major_outage")
    if not r.ok:
        assert r.error == f"Shopify status: {description} (indicator {indicator}): {BAD_COMPONENTS}"


async def test_status_json_without_components_and_page_name_is_judged_by_indicator(aiohttp_server, run_status):
    doc = {"page": {"id": "x", "url": "https://status.example.com"}, "status": {"indicator": "minor", "description": ""}}
    url = await serve(aiohttp_server, json.dumps(doc), path="/api/v2/status.json")
    r = (await run_status(url)).result

    assert (r.ok, r.error_class, r.severity, r.error) == (False, "vendor_degraded", "degraded", "127.0.0.1 status: minor (indicator minor)")
    assert dict(r.facts) == {"indicator": "minor", "status": 200, "components_checked": 0}


# --- Atlassian Statuspage: chosen components ---------------------------------------------------


@pytest.mark.parametrize(
    ("components", "error_class", "severity", "message", "checked", "worst"),
    [
        (["Checkout"], "vendor_outage", "down", "Checkout major_outage", 1, "major_outage"),
        (["storefront"], "vendor_degraded", "degraded", "Storefront partial_outage", 1, "partial_outage"),
        (["ADMIN"], "vendor_degraded", "degraded", "Admin degraded_performance", 1, "degraded_performance"),
        (["Point of Sale"], "vendor_maintenance", "degraded", "Point of Sale under_maintenance", 1, "under_maintenance"),
        (["API & Mobile", "Support"], None, "down", None, 2, "operational"),
        (
            ["Support", "Admin", "Point of Sale", "Checkout"],
            "vendor_outage",
            "down",
            "Checkout major_outage, Admin degraded_performance, Point of Sale under_maintenance",
            4,
            "major_outage",
        ),
        (["Third party services"], "vendor_degraded", "degraded", "Payment Providers partial_outage", 2, "partial_outage"),
        (
            ["Third party services", "payment providers"],
            "vendor_degraded",
            "degraded",
            "Payment Providers partial_outage",
            2,
            "partial_outage",
        ),
    ],
    ids=[
        "major-outage-down",
        "partial-outage-case-insensitive",
        "degraded-performance",
        "under-maintenance",
        "operational-ok",
        "worst-first-in-message",
        "group-name-picks-its-children",
        "component-counted-once",
    ],
)
async def test_chosen_components_decide_and_are_named(
    aiohttp_server, run_status, components, error_class, severity, message, checked, worst
):
    url = await serve_file(aiohttp_server, "summary.json")
    r = (await run_status(url, components=components)).result

    assert (r.ok, r.error_class, r.severity) == (error_class is None, error_class, severity)
    assert r.error == (None if message is None else f"Shopify status: {message}")
    assert dict(r.facts) == {
        "indicator": "major",
        "page_updated_at": "2024-11-29T14:02:11.478Z",
        "status": 200,
        "components_checked": checked,
        "worst_status": worst,
    }


async def test_a_component_status_the_probe_does_not_know_counts_as_degraded(aiohttp_server, run_status):
    url = await serve(aiohttp_server, summary(Checkout="full_outage"))
    r = (await run_status(url, components=["Checkout"])).result

    assert (r.error_class, r.severity, r.error) == ("vendor_degraded", "degraded", "Shopify status: Checkout full_outage")


async def test_a_component_not_on_the_page_is_stale_degraded_listing_the_names_there(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "summary-operational.json")
    r = (await run_status(url, components=["Kasa", "Checkout"])).result

    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "degraded")
    assert r.error == f"component 'Kasa' not on the status page; names there: {NAMES}"
    assert r.facts["components_checked"] == 1


async def test_a_vendor_outage_is_reported_before_a_missing_component(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "summary.json")
    r = (await run_status(url, components=["Checkout", "Kasa"])).result

    assert (r.error_class, r.severity) == ("vendor_outage", "down")
    assert r.error == f"Shopify status: Checkout major_outage; component 'Kasa' not on the status page; names there: {NAMES}"


# --- Meta metastatus ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error_class", "severity", "message", "checked", "worst"),
    [
        ({"orgs": ["fb-ig-shops"]}, None, "down", None, 3, "No known issues"),
        ({"orgs": ["FB-IG-Shops", "graph-api"]}, None, "down", None, 4, "No known issues"),
        (
            {"orgs": ["whatsapp-business-api"]},
            "vendor_outage",
            "down",
            "WhatsApp Business Platform / Cloud API: High disruptions, WhatsApp Business Platform / Webhooks: Low disruptions",
            4,
            "High disruptions",
        ),
        (
            {"orgs": ["whatsapp-business-api"], "services": ["webhooks"]},
            "vendor_degraded",
            "degraded",
            "WhatsApp Business Platform / Webhooks: Low disruptions",
            1,
            "Low disruptions",
        ),
        (
            {"orgs": ["ads-manager"]},
            "vendor_degraded",
            "degraded",
            "Ads Manager / Ads Creation: Medium disruptions",
            2,
            "Medium disruptions",
        ),
        (
            {"orgs": ["catalog"]},
            "vendor_maintenance",
            "degraded",
            "Commerce Manager / Catalog Management: Under maintenance",
            2,
            "Under maintenance",
        ),
        (
            {"orgs": ["marketing-api"], "services": ["Ad Management"]},
            "vendor_degraded",
            "degraded",
            "Marketing API / Ad Management: Partial outage",
            1,
            "Partial outage",
        ),
        (
            {"orgs": ["marketing-api"]},
            "vendor_outage",
            "down",
            "Marketing API / Insights: Major outage, Marketing API / Ad Management: Partial outage",
            2,
            "Major outage",
        ),
    ],
    ids=[
        "no-known-issues-and-resolved-ok",
        "org-ids-case-insensitive",
        "high-disruptions-down",
        "service-filter",
        "medium-disruptions-degraded",
        "maintenance",
        "partial-outage-degraded",
        "major-outage-down",
    ],
)
async def test_metastatus_orgs_and_services_are_judged(aiohttp_server, run_status, options, error_class, severity, message, checked, worst):
    url = await serve_file(aiohttp_server, "orgs.json")
    r = (await run_status(url, format="metastatus", **options)).result

    assert (r.ok, r.error_class, r.severity) == (error_class is None, error_class, severity)
    assert r.error == (None if message is None else f"Meta status: {message}")
    assert dict(r.facts) == {"status": 200, "components_checked": checked, "worst_status": worst}


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        ("No known issues", None),
        ("no known  ISSUES", None),
        ("Resolved", None),
        ("Low disruptions", "vendor_degraded"),
        ("Medium disruptions", "vendor_degraded"),
        ("Some disruptions", "vendor_degraded"),
        ("Investigating", "vendor_degraded"),
        ("", "vendor_degraded"),
        ("Partial outage", "vendor_degraded"),
        ("High disruptions", "vendor_outage"),
        ("Major disruptions", "vendor_outage"),
        ("Major outage", "vendor_outage"),
        ("Outage", "vendor_outage"),
        ("Under maintenance", "vendor_maintenance"),
        ("Scheduled maintenance", "vendor_maintenance"),
    ],
)
def test_metastatus_status_words_map_to_error_classes(status, error_class):
    verdict = statuspage.VERDICTS.get(statuspage.meta_rank(status))
    assert (verdict[0] if verdict else None) == error_class


async def test_metastatus_org_not_on_the_page_is_stale_degraded_listing_the_ids(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "orgs.json")
    r = (await run_status(url, format="metastatus", orgs=["fb-ig-shops", "tiktok-shop"])).result

    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "degraded")
    assert r.error == f"org 'tiktok-shop' not on the status page; ids there: {ORG_IDS}"


async def test_metastatus_service_not_in_the_orgs_is_stale_degraded_listing_the_names(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "orgs.json")
    r = (await run_status(url, format="metastatus", orgs=["fb-ig-shops"], services=["checkout", "Live Shopping"])).result

    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "degraded")
    assert r.error == ("service 'Live Shopping' not in orgs fb-ig-shops; names there: Shops on Facebook, Shops on Instagram, Checkout")
    assert r.facts["components_checked"] == 1


async def test_metastatus_outage_is_reported_before_a_missing_org(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "orgs.json")
    r = (await run_status(url, format="metastatus", orgs=["tiktok-shop", "whatsapp-business-api"], services=["Cloud API"])).result

    assert (r.error_class, r.severity) == ("vendor_outage", "down")
    assert r.error == (
        "Meta status: WhatsApp Business Platform / Cloud API: High disruptions; "
        f"org 'tiktok-shop' not on the status page; ids there: {ORG_IDS}"
    )


# --- an unreadable status page is stale, never down --------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 404])
async def test_http_error_status_is_stale(aiohttp_server, run_status, status):
    url = await serve(aiohttp_server, "<h1>Error</h1>", status=status, content_type="text/html")
    r = (await run_status(url)).result

    assert (r.ok, r.error_class, r.severity, r.error) == (False, "status_stale", "stale", f"the status page answered HTTP {status}")
    assert dict(r.facts) == {"status": status}


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        (
            '<!DOCTYPE html><html lang="en"><head><title>Just a moment...</title></head><body></body></html>',
            "text/html",
            "text/html, starts with '<!DOCTYPE html><html lang=\"en\"><head><title>Just a moment...'",
        ),
        ("", "application/json", "application/json, starts with ''"),
        ('{"status": {"indicator": "none"', "application/json", 'application/json, starts with \'{"status": {"indicator": "none"\''),
        (b"\xff\xfe\x00garbage", "application/json", "application/json, starts with '\ufffd\ufffd\\x00garbage'"),
    ],
    ids=["html-challenge-page", "empty-body", "truncated-json", "undecodable-bytes"],
)
async def test_a_document_that_is_not_json_is_stale(aiohttp_server, run_status, body, content_type, shown):
    url = await serve(aiohttp_server, body, content_type=content_type)
    r = (await run_status(url)).result

    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "stale")
    assert r.error == f"the status page is not JSON ({shown})"


@pytest.mark.parametrize(
    ("fmt", "doc", "reason"),
    [
        ("atlassian", [], "it has no status.indicator (use the page's /api/v2/summary.json)"),
        ("atlassian", {"status": "ok"}, "it has no status.indicator (use the page's /api/v2/summary.json)"),
        ("atlassian", {"status": {"indicator": "red"}}, "unknown status.indicator 'red'"),
        (
            "atlassian",
            {"status": {"indicator": "none"}, "components": {"Checkout": "operational"}},
            "components is not a list of objects with a name and a status",
        ),
        (
            "atlassian",
            {"status": {"indicator": "none"}, "components": [{"name": "Checkout"}]},
            "components is not a list of objects with a name and a status",
        ),
        ("metastatus", {"orgs": []}, "it is not a list of orgs with an id"),
        ("metastatus", [{"name": "Facebook and Instagram Shops", "services": []}], "it is not a list of orgs with an id"),
        (
            "metastatus",
            [{"id": "fb-ig-shops", "services": {"Checkout": "No known issues"}}],
            "the services of org 'fb-ig-shops' are not a list of objects with a name and a status",
        ),
        (
            "metastatus",
            [{"id": "fb-ig-shops", "services": [{"name": "Checkout", "status": None}]}],
            "the services of org 'fb-ig-shops' are not a list of objects with a name and a status",
        ),
    ],
    ids=[
        "atlassian-list",
        "atlassian-status-string",
        "atlassian-unknown-indicator",
        "atlassian-components-dict",
        "atlassian-component-without-status",
        "metastatus-dict",
        "metastatus-org-without-id",
        "metastatus-services-dict",
        "metastatus-null-status",
    ],
)
async def test_json_of_the_wrong_shape_is_stale(aiohttp_server, run_status, fmt, doc, reason):
    url = await serve(aiohttp_server, json.dumps(doc))
    options = {"format": fmt, "orgs": ["fb-ig-shops"]} if fmt == "metastatus" else {}
    r = (await run_status(url, **options)).result

    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "stale")
    assert r.error == f"the status page is not a {fmt} status document: {reason}"


async def test_status_page_larger_than_max_body_bytes_is_stale(aiohttp_server, run_status):
    url = await serve_file(aiohttp_server, "summary.json")
    r = (await run_status(url, max_body_bytes=1000)).result

    assert (r.error_class, r.severity, r.error) == ("status_stale", "stale", "the status page is larger than 1000 bytes (max_body_bytes)")


async def test_connection_refused_is_stale(run_status):
    port = closed_port()

    r = (await run_status(f"http://127.0.0.1:{port}/api/v2/summary.json")).result

    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "stale")
    assert r.error == f"cannot read the status page: connection refused by 127.0.0.1:{port} (connect_refused)"


async def test_a_status_page_that_never_answers_is_stale_before_the_check_timeout(raw_server, run_status):
    async def silent(reader, _writer):
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(3600)

    url = await raw_server(silent)
    outcome = await run_status(url, timeout="500ms", interval="1s")

    r = outcome.result
    assert (r.ok, r.error_class, r.severity) == (False, "status_stale", "stale")
    assert r.error == "no complete answer from the status page within 0.4s"
    assert 0.35 <= outcome.duration_seconds < 0.5


async def test_asks_for_json_and_follows_a_redirect(aiohttp_server, run_status):
    seen = []

    async def old(_request):
        raise web.HTTPMovedPermanently("/api/v2/summary.json")

    async def new(request):
        seen.append(request.headers.get("Accept"))
        return web.Response(body=(DATA / "summary-operational.json").read_bytes(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/summary.json", old)
    app.router.add_get("/api/v2/summary.json", new)
    server = await aiohttp_server(app)
    r = (await run_status(str(server.make_url("/summary.json")))).result

    assert r.ok is True, r
    assert seen == ["application/json"]


@pytest.mark.parametrize(
    ("condition", "ok"),
    [("[INDICATOR] == none", True), ("[COMPONENTS_CHECKED] >= 9", True), ('[WORST_STATUS] != "operational"', False)],
)
async def test_conditions_read_the_facts(aiohttp_server, run_status, condition, ok):
    url = await serve_file(aiohttp_server, "summary-operational.json")
    r = (await run_status(url, conditions=[condition])).result
    assert r.ok is ok, r.error


# --- configuration -----------------------------------------------------------------------------


def config_problem(**options: Any) -> str:
    with pytest.raises(ConfigError) as info:
        build_check(options.pop("target", "https://www.shopifystatus.com/api/v2/summary.json"), kind="statuspage", **CHANNEL, **options)
    return str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"format": "metastatus", "orgs": ["fb-ig-shops"], "components": ["Checkout"]},
            "components belong to format: atlassian; with format: metastatus pick orgs and services",
        ),
        ({"orgs": ["fb-ig-shops"]}, "orgs and services belong to format: metastatus; a Statuspage page picks components"),
        ({"services": ["Checkout"]}, "orgs and services belong to format: metastatus; a Statuspage page picks components"),
        ({"format": "metastatus"}, "format: metastatus needs orgs, e.g. [fb-ig-shops, whatsapp-business-api]"),
    ],
    ids=["components-with-metastatus", "orgs-with-atlassian", "services-with-atlassian", "metastatus-without-orgs"],
)
def test_config_rejects_options_of_the_other_format(options, message):
    assert config_problem(**options).endswith(f"channels[0].checks[0]: {message}")


def test_config_rejects_blank_component_names_and_unknown_formats():
    assert "names cannot be empty" in config_problem(components=["Checkout", " "])
    assert "format" in config_problem(format="betterstack")


def test_config_rejects_non_http_target():
    assert config_problem(target="ftp://status.example.com/").endswith(
        "channels[0].checks[0].target: 'ftp://status.example.com/' is not an http(s) URL; write e.g. https://shop.example.com/"
    )


async def test_a_blocked_destination_is_reported_as_blocked_not_stale(aiohttp_server, run_status):
    # status_stale never takes a channel down: a guard refusal reported so would go unnoticed.
    url = await serve_file(aiohttp_server, "summary-operational.json")
    session = create_http_session("test")  # the production guard: loopback is not allowed
    try:
        r = (await run_status(url, session=session, guard=ALLOW_NOTHING)).result
    finally:
        await session.close()

    assert (r.ok, r.error_class, r.severity) == (False, "blocked_destination", "down")
    assert r.error.startswith("not connecting to 127.0.0.1: "), r.error
