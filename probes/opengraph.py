"""Product page tags probe: do the Open Graph / product tags and JSON-LD that catalogs ingest still parse?

A page that does not load is the shop failing (severity down, the HTTP probe's classes); a page
that loads with broken tags is catalog_invalid (severity degraded): sales go on, catalogs drift.
"""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from pydantic import Field

from probes import http_errors
from probes.base import ErrorClass, Fact, ProbeConfig, ProbeContext, ProbeKind, ProbeResult
from probes.http import check_target, decode, read_limited
from probes.http_errors import client_error

REQUIRED = ("og:title", "og:type", "og:image", "og:url")
# Where each product field is read from, in order: tags first (Shopify themes still emit the legacy
# og:price:* ones), then the offers of a JSON-LD Product (all WooCommerce core prints).
TAGS = {
    "price": ("product:price:amount", "og:price:amount"),
    "currency": ("product:price:currency", "og:price:currency"),
    "availability": ("product:availability", "og:availability"),
}
OFFER_KEYS = {"price": ("price", "lowPrice"), "currency": ("priceCurrency",), "availability": ("availability",)}
PRICE = re.compile(r"[0-9]+(\.[0-9]+)?")  # matched against one tag value, never against HTML
# Compared case-insensitively, with "_" read as a space and a schema.org prefix removed: Open Graph
# and Meta values, Shopify's legacy instock/oos, Google's in_stock, and every schema.org ItemAvailability.
AVAILABILITY = frozenset(
    {
        "in stock",
        "out of stock",
        "preorder",
        "backorder",
        "available for order",
        "discontinued",
        "pending",
        "instock",
        "oos",
        "outofstock",
        "instoreonly",
        "limitedavailability",
        "madetoorder",
        "onlineonly",
        "presale",
        "reserved",
        "soldout",
    }
)
# ISO 4217 active codes (list one): circulating currencies and fund codes. Left out on purpose: gold,
# silver, bond units, XDR, XSU, XUA, the test code XTS and XXX (no currency), which no shop prices in.
# ANG stays while XCG replaces it (2025).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF
    KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI
    UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)


class Config(ProbeConfig):
    require_price: bool = True  # false for pages that are not one product (home page, category)
    check_image: bool = False  # GET og:image: it must answer 2xx with an image/* content type
    max_body_bytes: int = Field(5_000_000, ge=1, le=100_000_000)


class TagParser(HTMLParser):
    """Collects <meta property|name=... content=...> (first non-empty value wins) and JSON-LD blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.jsonld: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and a.get("content", "").strip():
            for key in (a.get("property") or a.get("name") or "").lower().split():  # RDFa allows several
                self.meta.setdefault(key, a["content"].strip())
        elif tag == "script" and a.get("type", "").split(";")[0].strip().lower() == "application/ld+json":
            self._script = []

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # The stdlib asserts on "<![foo[" and other marked sections browsers ignore; skip them as browsers do.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return end + 1 if end >= 0 else -1

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.jsonld.append("".join(self._script))
            self._script = None


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Load the page, read its tags and JSON-LD, and list every problem a catalog would have."""
    # The image is judged within our own deadline, so its failure is catalog_invalid, not a timeout.
    deadline = asyncio.get_running_loop().time() + ctx.timeout_seconds - min(0.5, ctx.timeout_seconds * 0.2)
    try:
        async with ctx.http.get(target, headers={"Accept": "text/html,application/xhtml+xml"}, trace_request_ctx=ctx.progress) as response:
            ctx.progress["phase"] = "body"
            body, truncated = await read_limited(response, config.max_body_bytes)
            status, charset, media_type = response.status, response.charset, response.content_type
            page_url = str(response.url)  # after redirects: what a relative og:image is relative to
    except aiohttp.ClientError as exc:
        return client_error(exc)
    if status >= 400:
        return ProbeResult.fail("http_status", f"HTTP {status}", status=status)
    ctx.progress["phase"] = "parse"
    parser = await parse_page(decode(body, charset))
    products, invalid_blocks = _jsonld_products(parser.jsonld)
    found = {field: _pick(field, parser.meta, products) for field in TAGS}  # field -> (source, value) | None
    facts: dict[str, Fact] = {
        "status": status,
        "tags_found": sum(k.startswith(("og:", "product:")) for k in parser.meta),
        "has_jsonld_product": bool(products),
        **{f: v and v[1] for f, v in found.items()},
    }
    problems = [f"{tag} missing" for tag in REQUIRED if tag not in parser.meta]
    og_url = parser.meta.get("og:url")
    if og_url and (urlsplit(og_url).scheme not in ("http", "https") or not urlsplit(og_url).hostname):
        problems.append(f"og:url {og_url!r} is not an absolute http(s) URL")
    missing = [field for field, value in found.items() if value is None]
    if missing and config.require_price:
        problems.append(f"{', '.join(missing)} missing (looked in product:*, og:price:*, og:availability and JSON-LD Product offers)")
        if invalid_blocks:
            problems.append(f"{invalid_blocks} JSON-LD block(s) not valid JSON")
    problems += _invalid_values(found)
    if config.check_image and "og:image" in parser.meta:
        ctx.progress["phase"] = "image"
        image_problem, image_status = await _image_problem(parser.meta["og:image"], page_url, ctx, deadline)
        if image_status is not None:
            facts["image_status"] = image_status
        problems += [image_problem] if image_problem else []
    if not problems:
        return ProbeResult(ok=True, facts=facts, data={"tags": dict(parser.meta)})
    if "html" not in media_type:
        problems.insert(0, f"the page is {media_type}, not HTML")
    if truncated:
        problems.append(f"only the first {config.max_body_bytes} bytes of the page were read (max_body_bytes)")
    return ProbeResult.fail("catalog_invalid", "; ".join(problems), severity="degraded", **facts)


async def parse_page(text: str, chunk: int = 64 * 1024) -> TagParser:
    """Parse in chunks, yielding between them: HTMLParser takes ~0.5 s per MB, too long to block the loop."""
    parser = TagParser()
    for start in range(0, len(text), chunk):
        parser.feed(text[start : start + chunk])
        await asyncio.sleep(0)
    parser.close()
    return parser


def _pick(field: str, meta: dict[str, str], products: list[dict]) -> tuple[str, str] | None:
    """(where it was found, value) of one product field: a tag, else the first JSON-LD offer having it."""
    for tag in TAGS[field]:
        if tag in meta:
            return tag, meta[tag]
    for product in products:
        offers, seen = _as_list(product.get("offers")), 0
        while offers and seen < 1000:
            offer, seen = offers.pop(0), seen + 1
            if not isinstance(offer, dict):
                continue
            for source in (offer, *(s for s in _as_list(offer.get("priceSpecification")) if isinstance(s, dict))):
                for key in OFFER_KEYS[field]:
                    value = _scalar(source.get(key))
                    if value is not None:
                        return f"JSON-LD Offer {key}", value
            offers += _as_list(offer.get("offers"))  # an AggregateOffer lists its Offers
    return None


def _invalid_values(found: dict[str, tuple[str, str] | None]) -> list[str]:
    problems = []
    if found["price"] and not PRICE.fullmatch(found["price"][1]):
        problems.append("{} {!r} is not a decimal number with a dot, e.g. 19.99".format(*found["price"]))
    if found["currency"] and found["currency"][1].upper() not in ISO_4217:
        problems.append("{} {!r} is not an ISO 4217 code".format(*found["currency"]))
    if found["availability"]:
        value = re.sub(r"^(https?://schema\.org/|schema:)", "", found["availability"][1], flags=re.I)
        if " ".join(value.casefold().replace("_", " ").split()) not in AVAILABILITY:
            problems.append(
                "{} {!r} is not an availability catalogs accept, e.g. 'in stock' or https://schema.org/InStock".format(
                    *found["availability"]
                )
            )
    return problems


async def _image_problem(image: str, page_url: str, ctx: ProbeContext, deadline: float) -> tuple[str | None, int | None]:
    url = urljoin(page_url, image)
    if urlsplit(url).scheme not in ("http", "https"):
        return f"og:image {image!r} is not an http(s) URL", None
    try:
        async with asyncio.timeout_at(deadline):
            async with ctx.http.get(url, headers={"Accept": "image/*"}) as response:
                status, media_type = response.status, response.content_type  # the body is not needed
    except aiohttp.ClientError as exc:
        failed = client_error(exc)
        return f"og:image {url} cannot be fetched: {failed.error} ({failed.error_class})", None
    except TimeoutError:
        return f"og:image {url} did not answer within the check's timeout", None
    if not 200 <= status < 300:
        return f"og:image {url} answered HTTP {status}", status
    if not media_type.startswith("image/"):
        return f"og:image {url} is {media_type}, not an image", status
    return None, status


def _jsonld_products(blocks: list[str]) -> tuple[list[dict], int]:
    """Every schema.org Product in the JSON-LD blocks (in @graph, lists, nested nodes); and how many blocks are invalid."""
    products, invalid = [], 0
    for block in blocks:
        try:
            stack = [json.loads(block, strict=False)]  # strict=False: raw newlines in descriptions are common
        except (ValueError, RecursionError):
            invalid += 1
            continue
        for _ in range(10_000):  # bounded walk, in document order
            if not stack:
                break
            node = stack.pop()
            if isinstance(node, dict) and _is_product(node):
                products.append(node)
            elif isinstance(node, dict | list):
                stack.extend(reversed(list(node.values()) if isinstance(node, dict) else node))
    return products, invalid


def _is_product(node: dict) -> bool:
    """ "Product", "schema:Product" and "http://schema.org/Product" (alone or in a list) are all the same type."""
    return "Product" in {str(t).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for t in _as_list(node.get("@type"))}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list) else [] if value is None else [value]


def _scalar(value: Any) -> str | None:
    """A JSON-LD value as text: strings, numbers, {"@id": ...} and the first of a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@id")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip() or None if isinstance(value, str) else None


ERRORS = {**http_errors.ERRORS, "catalog_invalid": ErrorClass("product tags that catalogs ingest are missing or invalid", "degraded")}

KIND = ProbeKind(
    Config,
    probe,
    check_target,
    placeholders={"STATUS": "status", "PRICE": "price", "CURRENCY": "currency", "AVAILABILITY": "availability", "TAGS": "tags"},
    error_classes=ERRORS,
)
