"""The product tags probe against canned shop pages served on 127.0.0.1.

Checks are built with parse_config (options validated as in production) and run through
monitor.runner.run_probe (the runner's deadline applies), with the production client session.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from monitor.config import ConfigError
from monitor.runner import CheckResult
from probes import opengraph
from tests.support import ROOT
from tests.support.probes import build_check, closed_port

DATA = ROOT / "tests" / "data" / "opengraph"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64  # enough of a PNG for a content-type check
LOOKED = "(looked in product:*, og:price:*, og:availability and JSON-LD Product offers)"


@pytest.fixture
def run_og(probe_runner) -> Callable[..., Awaitable[CheckResult]]:
    """run_og(target, **options) -> CheckResult, through the real runner."""
    return functools.partial(probe_runner, "opengraph")


async def serve(aiohttp_server, routes: dict[str, object]) -> str:
    """Start an app with {path: handler or (body, content_type[, status])}; return the URL of the first path."""
    app = web.Application()
    for path, answer in routes.items():
        if not callable(answer):
            body, content_type, *status = answer

            async def answer(_request, body=body, content_type=content_type, status=status):
                return web.Response(
                    body=body.encode() if isinstance(body, str) else body, content_type=content_type, status=status[0] if status else 200
                )

        app.router.add_get(path, answer)
    server = await aiohttp_server(app)
    return str(server.make_url(next(iter(routes))))


async def serve_page(aiohttp_server, name_or_html: str, **more: object) -> str:
    html = (DATA / name_or_html).read_text() if name_or_html.endswith(".html") else name_or_html
    return await serve(aiohttp_server, {"/produkt": (html, "text/html"), **more})


def page(*tags: tuple[str, str], jsonld: list[str] = (), image: str | None = "https://cdn.example.com/p.jpg") -> str:
    """A minimal product page with the four required Open Graph tags plus the given ones."""
    base = [("og:title", "Kubek"), ("og:type", "product"), ("og:url", "https://sklep.example.com/kubek")]
    base += [("og:image", image)] if image else []
    metas = "\n".join(f'<meta property="{k}" content="{v}">' for k, v in base + list(tags))
    scripts = "\n".join(f'<script type="application/ld+json">{block}</script>' for block in jsonld)
    return f"<!doctype html><html><head>{metas}\n{scripts}</head><body><h1>Kubek</h1></body></html>"


PRICE_TAGS = (("product:price:amount", "19.99"), ("product:price:currency", "PLN"), ("product:availability", "in stock"))


# --- pages catalogs can ingest -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        (
            "shopify-product.html",
            {"tags_found": 12, "has_jsonld_product": False, "price": "89.00", "currency": "PLN", "availability": "instock"},
        ),
        (
            "woocommerce-product.html",
            {
                "tags_found": 10,
                "has_jsonld_product": True,
                "price": "42.00",
                "currency": "PLN",
                "availability": "http://schema.org/InStock",
            },
        ),
        (
            "product-tags.html",
            {"tags_found": 9, "has_jsonld_product": False, "price": "349.99", "currency": "EUR", "availability": "in stock"},
        ),
    ],
    ids=["shopify-legacy-og-price-tags", "woocommerce-json-ld-only", "product-tags-and-meta-name"],
)
async def test_product_pages_catalogs_ingest_are_ok(aiohttp_server, run_og, name, facts):
    outcome = await run_og(await serve_page(aiohttp_server, name))

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (True, None, None)
    assert dict(r.facts) == {"status": 200, **facts}
    assert (outcome.channel, outcome.check, outcome.kind) == ("shop", "opengraph", "opengraph")


@pytest.mark.parametrize(
    "jsonld",
    [
        [
            {
                "@context": "https://schema.org",
                "@type": "Product",
                "name": "Kubek",
                "offers": {"@type": "Offer", "price": 19.5, "priceCurrency": "PLN", "availability": "https://schema.org/InStock"},
            }
        ],
        [
            [
                {"@type": "Organization", "name": "Sklep"},
                {"@type": ["Product"], "offers": [{"@type": "Offer", "price": "19.50", "priceCurrency": "PLN", "availability": "InStock"}]},
            ]
        ],
        [
            {
                "@type": "http://schema.org/Product",
                "offers": {
                    "@type": "AggregateOffer",
                    "lowPrice": "19.50",
                    "highPrice": "29.00",
                    "priceCurrency": "PLN",
                    "offerCount": 2,
                    "offers": [{"@type": "Offer", "price": "19.50", "availability": "http://schema.org/PreOrder"}],
                },
            }
        ],
        [
            {
                "@type": "WebPage",
                "mainEntity": {
                    "@type": "ProductGroup",
                    "hasVariant": [
                        {
                            "@type": "Product",
                            "offers": {
                                "@type": "Offer",
                                "priceSpecification": {"price": "19.50", "priceCurrency": "PLN"},
                                "availability": {"@id": "schema:OutOfStock"},
                            },
                        }
                    ],
                },
            }
        ],
        [
            {"@type": "BreadcrumbList"},
            {"@type": "Product", "offers": [{"@type": "Offer", "price": "19.50", "priceCurrency": "pln", "availability": "SoldOut"}]},
        ],
    ],
    ids=[
        "offer-dict-numeric-price",
        "top-level-list-type-list",
        "aggregate-offer-nested-offers",
        "product-group-variant-price-specification",
        "second-block-lowercase-currency",
    ],
)
async def test_json_ld_products_in_every_common_shape_are_found(aiohttp_server, run_og, jsonld):
    url = await serve_page(aiohttp_server, page(jsonld=[json.dumps(block) for block in jsonld]))
    r = (await run_og(url)).result

    assert (r.ok, r.error) == (True, None)
    assert r.facts["has_jsonld_product"] is True
    assert r.facts["price"] in ("19.5", "19.50")


async def test_tags_win_over_json_ld_and_json_ld_fills_what_tags_lack(aiohttp_server, run_og):
    offer = json.dumps({"@type": "Product", "offers": {"price": "25.00", "priceCurrency": "EUR", "availability": "OutOfStock"}})
    url = await serve_page(aiohttp_server, page(("og:price:amount", "24.00"), jsonld=[offer]))
    r = (await run_og(url)).result

    assert r.ok is True, r
    assert (r.facts["price"], r.facts["currency"], r.facts["availability"]) == ("24.00", "EUR", "OutOfStock")


@pytest.mark.parametrize(
    "availability",
    [
        "in stock",
        "Out of Stock",
        "preorder",
        "backorder",
        "available for order",
        "discontinued",
        "pending",
        "instock",
        "oos",
        "in_stock",
        "https://schema.org/InStock",
        "http://schema.org/OutOfStock",
        "schema:PreOrder",
        "InStock",
        "LimitedAvailability",
    ],
)
async def test_accepted_availability_values(aiohttp_server, run_og, availability):
    url = await serve_page(aiohttp_server, page(*PRICE_TAGS[:2], ("product:availability", availability)))
    r = (await run_og(url)).result
    assert (r.ok, r.error) == (True, None)


async def test_without_require_price_a_page_without_price_is_ok(aiohttp_server, run_og):
    url = await serve_page(aiohttp_server, "broken-no-price.html")
    r = (await run_og(url, require_price=False)).result

    assert (r.ok, r.error) == (True, None)
    assert (r.facts["price"], r.facts["currency"], r.facts["availability"]) == (None, None, None)


async def test_markup_the_stdlib_parser_chokes_on_is_skipped_as_browsers_do(aiohttp_server, run_og):
    html = page(*PRICE_TAGS).replace("<head>", "<head><![if !IE]><![foo[ x ]]><!-- unclosed <meta property='og:title'> -->")
    r = (await run_og(await serve_page(aiohttp_server, html))).result
    assert (r.ok, r.error) == (True, None)


@pytest.mark.parametrize("name", ["shopify-product.html", "woocommerce-product.html"])
async def test_parsing_in_small_chunks_finds_the_same_tags(name):
    text = (DATA / name).read_text()
    whole, chunked = await opengraph.parse_page(text), await opengraph.parse_page(text, chunk=7)
    assert (chunked.meta, chunked.jsonld) == (whole.meta, whole.jsonld)
    assert len(whole.jsonld) == (1 if name.startswith("shopify") else 2)


# --- broken tags: catalog_invalid, degraded ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("broken-no-image.html", "og:image missing"),
        ("broken-currency.html", "product:price:currency 'zl' is not an ISO 4217 code"),
        ("broken-price.html", "product:price:amount '1 299,00 zł' is not a decimal number with a dot, e.g. 19.99"),
        (
            "broken-availability.html",
            "og:availability 'dostępny od ręki' is not an availability catalogs accept, e.g. 'in stock' or https://schema.org/InStock",
        ),
        ("broken-no-price.html", f"price, currency, availability missing {LOOKED}"),
    ],
    ids=["missing-og-image", "bad-currency", "bad-price", "bad-availability", "no-price-at-all"],
)
async def test_broken_tags_are_catalog_invalid_degraded(aiohttp_server, run_og, name, message):
    r = (await run_og(await serve_page(aiohttp_server, name))).result

    assert (r.ok, r.error_class, r.severity, r.error) == (False, "catalog_invalid", "degraded", message)
    assert r.facts["status"] == 200


async def test_every_problem_is_listed_in_one_message(aiohttp_server, run_og):
    html = page(("product:price:amount", "-5"), ("product:price:currency", "zl"), ("og:availability", "maybe"), image=None)
    r = (await run_og(await serve_page(aiohttp_server, html))).result

    assert (r.error_class, r.severity) == ("catalog_invalid", "degraded")
    assert r.error == (
        "og:image missing; product:price:amount '-5' is not a decimal number with a dot, e.g. 19.99; "
        "product:price:currency 'zl' is not an ISO 4217 code; og:availability 'maybe' is not an availability "
        "catalogs accept, e.g. 'in stock' or https://schema.org/InStock"
    )
    assert dict(r.facts) == {
        "status": 200,
        "tags_found": 6,
        "has_jsonld_product": False,
        "price": "-5",
        "currency": "zl",
        "availability": "maybe",
    }


@pytest.mark.parametrize(
    ("price", "ok"),
    [
        ("0", True),
        ("19", True),
        ("19.99", True),
        ("0.5", True),
        ("19,99", False),
        ("19.", False),
        (".5", False),
        ("1,299.00", False),
        ("PLN 19.99", False),
        ("1e3", False),
        ("", None),
    ],
)
async def test_price_must_be_a_non_negative_decimal_with_a_dot(aiohttp_server, run_og, price, ok):
    url = await serve_page(aiohttp_server, page(("product:price:amount", price), *PRICE_TAGS[1:]))
    r = (await run_og(url)).result

    if ok is None:  # an empty content attribute is no tag at all
        assert r.error == f"price missing {LOOKED}"
    else:
        assert r.ok is ok, r.error


async def test_json_ld_problems_name_their_source(aiohttp_server, run_og):
    offer = json.dumps({"@type": "Product", "offers": {"price": "19,99", "priceCurrency": "zł", "availability": "yes"}})
    r = (await run_og(await serve_page(aiohttp_server, page(jsonld=[offer])))).result

    assert r.error == (
        "JSON-LD Offer price '19,99' is not a decimal number with a dot, e.g. 19.99; "
        "JSON-LD Offer priceCurrency 'zł' is not an ISO 4217 code; JSON-LD Offer availability 'yes' is not "
        "an availability catalogs accept, e.g. 'in stock' or https://schema.org/InStock"
    )


async def test_invalid_json_ld_is_mentioned_when_the_price_is_missing(aiohttp_server, run_og):
    broken = '{"@type": "Product", "offers": {"price": "19.99",}}'
    r = (await run_og(await serve_page(aiohttp_server, page(jsonld=[broken])))).result

    assert r.error == f"price, currency, availability missing {LOOKED}; 1 JSON-LD block(s) not valid JSON"
    assert r.facts["has_jsonld_product"] is False


async def test_relative_og_url_is_catalog_invalid(aiohttp_server, run_og):
    html = page(*PRICE_TAGS).replace("https://sklep.example.com/kubek", "/kubek")
    r = (await run_og(await serve_page(aiohttp_server, html))).result

    assert (r.error_class, r.error) == ("catalog_invalid", "og:url '/kubek' is not an absolute http(s) URL")


async def test_a_page_that_is_not_html_says_so(aiohttp_server, run_og):
    url = await serve(aiohttp_server, {"/produkt": ('{"ok": true}', "application/json")})
    r = (await run_og(url)).result

    assert r.error == (
        "the page is application/json, not HTML; og:title missing; og:type missing; og:image missing; "
        f"og:url missing; price, currency, availability missing {LOOKED}"
    )


async def test_tags_past_max_body_bytes_are_not_seen_and_the_message_says_why(aiohttp_server, run_og):
    r = (await run_og(await serve_page(aiohttp_server, "woocommerce-product.html"), max_body_bytes=4000)).result

    assert r.error == (f"price, currency, availability missing {LOOKED}; only the first 4000 bytes of the page were read (max_body_bytes)")


# --- the page does not load: the shop is failing, severity down --------------------------------


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_http_error_status_is_http_status_down(aiohttp_server, run_og, status):
    url = await serve(aiohttp_server, {"/produkt": ("<h1>Błąd</h1>", "text/html", status)})
    r = (await run_og(url)).result

    assert (r.ok, r.error_class, r.severity, r.error) == (False, "http_status", "down", f"HTTP {status}")
    assert dict(r.facts) == {"status": status}


async def test_connection_refused_is_connect_refused_down(run_og):
    port = closed_port()

    r = (await run_og(f"http://127.0.0.1:{port}/produkt")).result

    assert (r.ok, r.error_class, r.severity, r.error) == (False, "connect_refused", "down", f"connection refused by 127.0.0.1:{port}")


# --- check_image -------------------------------------------------------------------------------


async def test_check_image_fetches_a_relative_og_image(aiohttp_server, run_og):
    seen = []

    async def image(request):
        seen.append(request.headers.get("Accept"))
        return web.Response(body=PNG, content_type="image/png")

    url = await serve_page(aiohttp_server, page(*PRICE_TAGS, image="img/kubek.png"), **{"/img/kubek.png": image})
    r = (await run_og(url, check_image=True)).result

    assert (r.ok, r.error) == (True, None)
    assert r.facts["image_status"] == 200
    assert seen == ["image/*"]


@pytest.mark.parametrize(
    ("answer", "problem", "image_status"),
    [
        ((b"not found", "text/plain", 404), "answered HTTP 404", 404),
        (("<h1>Obrazek</h1>", "text/html"), "is text/html, not an image", 200),
    ],
    ids=["image-404", "image-served-as-html"],
)
async def test_check_image_problems_are_catalog_invalid(aiohttp_server, run_og, answer, problem, image_status):
    url = await serve_page(aiohttp_server, page(*PRICE_TAGS, image="/img/kubek.png"), **{"/img/kubek.png": answer})
    r = (await run_og(url, check_image=True)).result

    image_url = url.replace("/produkt", "/img/kubek.png")
    assert (r.ok, r.error_class, r.severity, r.error) == (False, "catalog_invalid", "degraded", f"og:image {image_url} {problem}")
    assert r.facts["image_status"] == image_status


async def test_check_image_that_never_answers_is_catalog_invalid_before_the_check_timeout(aiohttp_server, run_og):
    async def hang(_request):
        await asyncio.sleep(3600)

    url = await serve_page(aiohttp_server, page(*PRICE_TAGS, image="/img/kubek.png"), **{"/img/kubek.png": hang})
    outcome = await run_og(url, check_image=True, timeout="500ms", interval="1s")

    r = outcome.result
    image_url = url.replace("/produkt", "/img/kubek.png")
    assert (r.error_class, r.severity, r.error) == (
        "catalog_invalid",
        "degraded",
        f"og:image {image_url} did not answer within the check's timeout",
    )
    assert outcome.duration_seconds < 0.5


async def test_check_image_unreachable_host_is_catalog_invalid(aiohttp_server, run_og):
    port = closed_port()

    url = await serve_page(aiohttp_server, page(*PRICE_TAGS, image=f"http://127.0.0.1:{port}/kubek.png"))
    r = (await run_og(url, check_image=True)).result

    assert (r.error_class, r.severity, r.error) == (
        "catalog_invalid",
        "degraded",
        f"og:image http://127.0.0.1:{port}/kubek.png cannot be fetched: connection refused by 127.0.0.1:{port} (connect_refused)",
    )


async def test_check_image_rejects_a_data_url(aiohttp_server, run_og):
    r = (await run_og(await serve_page(aiohttp_server, page(*PRICE_TAGS, image="data:image/png;base64,iVBOR")), check_image=True)).result

    assert r.error == "og:image 'data:image/png;base64,iVBOR' is not an http(s) URL"


# --- conditions and configuration --------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "ok"),
    [
        ('[AVAILABILITY] == "instock"', True),
        ("[PRICE] < 50", False),
        ("[TAGS].og:type == product", True),
        ('[TAGS].og:site_name == "Inny sklep"', False),
    ],
)
async def test_conditions_read_the_facts(aiohttp_server, run_og, condition, ok):
    r = (await run_og(await serve_page(aiohttp_server, "shopify-product.html"), conditions=[condition])).result
    assert r.ok is ok, r.error


def test_config_rejects_unknown_options_and_non_http_targets():
    with pytest.raises(ConfigError) as info:
        build_check("https://sklep.example.com/produkt", kind="opengraph", check_images=True)
    assert "channels[0].checks[0].check_images: unknown key 'check_images'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        build_check("ftp://sklep.example.com/produkt", kind="opengraph")
    assert str(info.value).endswith(
        "channels[0].checks[0].target: 'ftp://sklep.example.com/produkt' is not an http(s) URL; write e.g. https://shop.example.com/"
    )
