"""Vendor status page probe: Atlassian Statuspage v2 (summary.json) or Meta's metastatus (orgs.json).

A status page that cannot be read says nothing about the channel, so every read failure is
status_stale with severity "stale": never a channel down.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator

from probes.base import ErrorClass, Fact, ProbeConfig, ProbeContext, ProbeKind, ProbeResult
from probes.http import check_target, read_limited
from probes.http_errors import client_error

# Component statuses, worse ranks higher. A status not listed (a vendor's extension) ranks 2.
RANKS = {"operational": 0, "under_maintenance": 1, "degraded_performance": 2, "partial_outage": 3, "major_outage": 4}
ERRORS = {
    "vendor_outage": ErrorClass("the vendor's status page reports an outage"),
    "vendor_degraded": ErrorClass("the vendor's status page reports degraded service", "degraded"),
    "vendor_maintenance": ErrorClass("the vendor's status page reports maintenance", "degraded"),
    "status_stale": ErrorClass("the vendor's status page could not be read", "stale (degraded when a configured component is missing)"),
}
VERDICTS = {
    4: ("vendor_outage", "down"),
    3: ("vendor_degraded", "degraded"),
    2: ("vendor_degraded", "degraded"),
    1: ("vendor_maintenance", "degraded"),
}
# Page-wide verdict when no components are chosen ("maintenance" is emitted by some pages).
INDICATORS = {"none": None, "minor": VERDICTS[2], "major": VERDICTS[3], "critical": VERDICTS[4], "maintenance": VERDICTS[1]}
# Meta keeps "Resolved" on a service for hours after an incident is closed: that is no trouble.
META_OK = frozenset({"no known issues", "resolved"})


class Config(ProbeConfig):
    format: Literal["atlassian", "metastatus"] = "atlassian"
    components: list[str] = []  # atlassian: judge these (case-insensitive; a group name picks its children)
    orgs: list[str] = []  # metastatus: org ids, e.g. fb-ig-shops, whatsapp-business-api
    services: list[str] = []  # metastatus: only these services of those orgs (default: all)
    max_body_bytes: int = Field(2_000_000, ge=1, le=100_000_000)

    @field_validator("components", "orgs", "services")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        if any(not v.strip() for v in values):
            raise ValueError("names cannot be empty")
        return [v.strip() for v in values]

    @model_validator(mode="after")
    def _fits_format(self) -> Config:
        if self.format == "atlassian" and (self.orgs or self.services):
            raise ValueError("orgs and services belong to format: metastatus; a Statuspage page picks components")
        if self.format == "metastatus" and self.components:
            raise ValueError("components belong to format: atlassian; with format: metastatus pick orgs and services")
        if self.format == "metastatus" and not self.orgs:
            raise ValueError("format: metastatus needs orgs, e.g. [fb-ig-shops, whatsapp-business-api]")
        return self


@dataclass(frozen=True, slots=True)
class Item:
    text: str  # how the message names it: "Checkout major_outage"
    status: str
    rank: int


class Malformed(ValueError):
    """The document is JSON but not in the expected shape."""


def meta_rank(status: str) -> int:
    """Rank a metastatus string on the RANKS scale (see the README for the mapping)."""
    s = " ".join(status.casefold().split())
    if s in META_OK:
        return 0
    if "maintenance" in s:
        return 1
    if "partial outage" in s:
        return 3
    if "outage" in s or "major disruption" in s or "high disruption" in s:
        return 4
    return 2  # "Low disruptions", "Medium disruptions" and anything new


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Read the status document and judge the chosen components (or the whole page)."""
    # Our own deadline, inside the runner's: a hung status page is stale, not a channel timeout.
    deadline = max(ctx.timeout_seconds - min(0.5, ctx.timeout_seconds * 0.2), 0.001)
    try:
        async with asyncio.timeout(deadline):
            async with ctx.http.get(target, headers={"Accept": "application/json"}, trace_request_ctx=ctx.progress) as response:
                ctx.progress["phase"] = "body"
                body, too_large = await read_limited(response, config.max_body_bytes)
                status, content_type = response.status, response.content_type
    except aiohttp.ClientError as exc:
        failed = client_error(exc)
        if failed.error_class == "blocked_destination":
            return failed  # a config mistake: never quietly "stale" (stale never takes a channel down)
        return _stale(f"cannot read the status page: {failed.error} ({failed.error_class})")
    except TimeoutError:
        return _stale(f"no complete answer from the status page within {deadline:g}s")
    if not 200 <= status < 300:
        return _stale(f"the status page answered HTTP {status}", status=status)
    if too_large:
        return _stale(f"the status page is larger than {config.max_body_bytes} bytes (max_body_bytes)", status=status)
    ctx.progress["phase"] = "parse"
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # undecodable bytes, invalid JSON, absurd nesting
        start = " ".join(body[:60].decode("utf-8", "replace").split())
        return _stale(f"the status page is not JSON ({content_type}, starts with {start!r})", status=status)
    try:
        if config.format == "atlassian":
            title, items, missing, facts = _atlassian(doc, config, target)
        else:
            title, items, missing, facts = _metastatus(doc, config)
    except Malformed as exc:
        return _stale(f"the status page is not a {config.format} status document: {exc}", status=status)
    facts |= {"status": status, "components_checked": len(items)}
    if items:
        facts["worst_status"] = max(items, key=lambda i: i.rank).status
    bad = sorted((i for i in items if i.rank > 0), key=lambda i: -i.rank)  # worst first, page order kept
    if config.components or config.format == "metastatus":
        verdict = VERDICTS.get(bad[0].rank) if bad else None
        summary = f"{title}: " + _listed([i.text for i in bad])
    else:
        verdict = INDICATORS[facts["indicator"]]
        described = doc["status"].get("description")
        described = described if isinstance(described, str) and described else facts["indicator"]
        summary = f"{title}: {described} (indicator {facts['indicator']})"
        summary += ": " + _listed([i.text for i in bad]) if bad else ""
    if verdict is None and not missing:
        return ProbeResult(ok=True, facts=facts)
    error_class, severity = verdict or ("status_stale", "degraded")
    return ProbeResult.fail(error_class, "; ".join(([summary] if verdict else []) + missing), severity=severity, **facts)


def _atlassian(doc: Any, config: Config, target: str) -> tuple[str, list[Item], list[str], dict[str, Fact]]:
    roll_up = doc.get("status") if isinstance(doc, dict) else None
    if not isinstance(roll_up, dict) or not isinstance(roll_up.get("indicator"), str):
        raise Malformed("it has no status.indicator (use the page's /api/v2/summary.json)")
    if roll_up["indicator"] not in INDICATORS:
        raise Malformed(f"unknown status.indicator {roll_up['indicator']!r}")
    components = doc.get("components", [])
    if not isinstance(components, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("status"), str) for c in components
    ):
        raise Malformed("components is not a list of objects with a name and a status")
    page = doc.get("page") if isinstance(doc.get("page"), dict) else {}
    facts: dict[str, Fact] = {"indicator": roll_up["indicator"]}
    if isinstance(page.get("updated_at"), str):
        facts["page_updated_at"] = page["updated_at"]
    title = f"{page.get('name') if isinstance(page.get('name'), str) else urlsplit(target).hostname} status"
    leaves = [c for c in components if c.get("group") is not True]  # a group is only a container
    chosen, missing = leaves, []
    if config.components:
        groups = {c["name"].casefold(): c.get("id") for c in components if c.get("group") is True}
        chosen = []
        for name in config.components:
            key = name.casefold()
            hits = [
                c
                for c in leaves
                if c["name"].casefold() == key or (key in groups and c.get("group_id") is not None and c.get("group_id") == groups[key])
            ]
            if not hits:
                missing.append(f"component {name!r} not on the status page; names there: {_listed([c['name'] for c in leaves])}")
            chosen += [c for c in hits if all(c is not d for d in chosen)]
    items = [Item(f"{c['name']} {c['status']}", c["status"], RANKS.get(c["status"], 2)) for c in chosen]
    return title, items, missing, facts


def _metastatus(doc: Any, config: Config) -> tuple[str, list[Item], list[str], dict[str, Fact]]:
    if not isinstance(doc, list) or not all(isinstance(o, dict) and isinstance(o.get("id"), str) for o in doc):
        raise Malformed("it is not a list of orgs with an id")
    by_id = {o["id"].casefold(): o for o in doc}
    wanted = {s.casefold() for s in config.services}
    items, missing, seen = [], [], []
    for org_id in config.orgs:
        org = by_id.get(org_id.casefold())
        if org is None:
            missing.append(f"org {org_id!r} not on the status page; ids there: {_listed([o['id'] for o in doc])}")
            continue
        services = org.get("services")
        if not isinstance(services, list) or not all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("status"), str) for s in services
        ):
            raise Malformed(f"the services of org {org['id']!r} are not a list of objects with a name and a status")
        org_name = org.get("name") if isinstance(org.get("name"), str) else org["id"]
        seen += [s["name"] for s in services]
        items += [
            Item(f"{org_name} / {s['name']}: {s['status']}", s["status"], meta_rank(s["status"]))
            for s in services
            if not wanted or s["name"].casefold() in wanted
        ]
    found = {name.casefold() for name in seen}
    missing += [
        f"service {name!r} not in orgs {', '.join(config.orgs)}; names there: {_listed(seen)}"
        for name in config.services
        if name.casefold() not in found and seen
    ]
    return "Meta status", items, missing, {}


def _listed(names: list[str], limit: int = 20) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "none"


def _stale(message: str, **facts: Fact) -> ProbeResult:
    return ProbeResult.fail("status_stale", message, severity="stale", **facts)


KIND = ProbeKind(
    Config,
    probe,
    check_target,
    placeholders={"STATUS": "status", "INDICATOR": "indicator", "WORST_STATUS": "worst_status", "COMPONENTS_CHECKED": "components_checked"},
    timeout_severity="stale",
    error_classes=ERRORS,
)
