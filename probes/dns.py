"""DNS probe: does a name resolve, through the resolvers the operator chose?

Each resolver is asked directly (dns.asyncquery over UDP, again over TCP when the answer comes back
truncated) rather than through dns.asyncresolver, which retries elsewhere and hides the response
code: an alert must say SERVFAIL, NXDOMAIN or REFUSED, and which resolvers said it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
from pydantic import field_validator

from probes.base import ErrorClass, FactGauge, ProbeConfig, ProbeContext, ProbeKind, ProbeResult, Samples

ERRORS = {
    "dns_servfail": ErrorClass("DNS resolvers failed to answer (SERVFAIL)"),
    "dns_refused": ErrorClass("DNS resolvers refused the query (REFUSED)"),
}  # beyond the shared dns_nxdomain, dns_no_answer, dns_timeout and dns_error
# The common DNS response codes by name (RFC 1035/6895) as dnspython spells them (others: rcode_number).
DNS_RCODES = {
    "NOERROR": 0,
    "FORMERR": 1,
    "SERVFAIL": 2,
    "NXDOMAIN": 3,
    "NOTIMP": 4,
    "REFUSED": 5,
    "YXDOMAIN": 6,
    "YXRRSET": 7,
    "NXRRSET": 8,
    "NOTAUTH": 9,
    "NOTZONE": 10,
}
RESOLV_CONF = "/etc/resolv.conf"  # the system's resolvers, read each time a probe runs
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_RCODE_CLASSES = {"NXDOMAIN": "dns_nxdomain", "SERVFAIL": "dns_servfail", "REFUSED": "dns_refused"}
# When as many resolvers fail one way as another, the class listed first is reported.
_TIE_ORDER = ("dns_nxdomain", "dns_servfail", "dns_refused", "dns_no_answer", "dns_timeout", "dns_error")
_SPLIT_WORDS = {
    None: "answered",
    "dns_nxdomain": "NXDOMAIN",
    "dns_servfail": "SERVFAIL",
    "dns_refused": "REFUSED",
    "dns_no_answer": "no answer",
    "dns_timeout": "timed out",
    "dns_error": "failed",
}


class Config(ProbeConfig):
    resolvers: list[str] | None = None  # IP, IP:port or [IPv6]:port; None: the system's resolvers
    record_types: list[Literal["A", "AAAA", "NS"]] = ["A"]  # every type listed must have an answer
    require: Literal["any", "all"] = "any"  # how many resolvers must answer for the check to pass

    @field_validator("resolvers")
    @classmethod
    def _resolvers(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and not values:
            raise ValueError(
                "an empty list asks no resolver; list at least one, e.g. ['1.1.1.1'], or leave resolvers out to use the system's"
            )
        return None if values is None else list(dict.fromkeys(format_resolver(*parse_resolver(v)) for v in values))

    @field_validator("record_types")
    @classmethod
    def _record_types(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("an empty list checks nothing; list at least one of A, AAAA, NS")
        return list(dict.fromkeys(values))


def parse_resolver(text: str) -> tuple[str, int]:
    """'1.1.1.1', '127.0.0.1:5353', '2606:4700::1111' or '[::1]:5353' -> (ip, port)."""
    host, port = text.strip(), "53"
    if match := re.fullmatch(r"\[([^\]]+)\](?::(\d{1,5}))?", host):
        host, port = match.group(1), match.group(2) or "53"
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        ip = ipaddress.ip_address(host)
        if "[" in text and ip.version == 4 or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{text!r} is not a resolver address; write an IP address, IP:port or [IPv6]:port, e.g. 1.1.1.1 or 127.0.0.1:5353"
        ) from None
    return str(ip), int(port)


def format_resolver(ip: str, port: int) -> str:
    """How a resolver is named in alerts: its address, with the port only when it is not 53."""
    return ip if port == 53 else f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def check_target(target: str) -> str:
    """Accept a host name (IDN allowed); return it lower-cased without a trailing dot."""
    name = target.strip().lower().removesuffix(".")
    try:
        ascii_name = dns.name.from_text(name).to_text(omit_final_dot=True)
    except dns.exception.DNSException:
        ascii_name = ""
    try:
        ipaddress.ip_address(name)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip or not name or not all(_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        raise ValueError(f"{target!r} is not a host name; write e.g. facebook.com")
    return name


def system_resolvers() -> list[str]:
    """The resolvers in /etc/resolv.conf, read now so that edits apply without a restart."""
    try:
        found = dns.resolver.Resolver(filename=RESOLV_CONF).nameservers
    except dns.resolver.NoResolverConfiguration:
        return []
    resolvers = []
    for server in found:
        try:
            resolvers.append(format_resolver(*parse_resolver(str(server))))
        except ValueError:
            pass  # not a plain address (a DNS-over-HTTPS URL, say): this probe only speaks UDP/TCP
    return resolvers


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one resolver said; error_class None means it answered every record type."""

    resolver: str
    error_class: str | None = None
    rcode: str = "NOERROR"  # "" when no DNS answer came back at all
    detail: str = ""  # the record type without an answer, or what went wrong
    answers: tuple[str, ...] = ()


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Ask every resolver at once; judge by how many answered and how the others failed."""
    # ctx.guard is deliberately not applied: the resolvers are the operator's own infrastructure
    # (often 127.0.0.53 or a LAN address), chosen in the config; the target is only a query name.
    name = target  # already in check_target's normal form: load_config stores that
    resolvers = config.resolvers or system_resolvers()
    facts = {"rcode": "", "answers": "", "resolvers_ok": 0, "resolvers_failed": 0}
    if not resolvers:
        return ProbeResult.fail("dns_error", f"no resolvers to ask: {RESOLV_CONF} lists none; set resolvers, e.g. [1.1.1.1]", **facts)
    ctx.progress["phase"] = "dns"
    budget = ctx.timeout_seconds * 0.8  # our own answer ("which resolver timed out") beats the runner's cut-off
    outcomes = await asyncio.gather(*(_ask(r, name, config.record_types, budget) for r in resolvers))
    ok = [o for o in outcomes if o.error_class is None]
    facts.update(
        rcode="NOERROR",
        answers=",".join(sorted({a for o in ok for a in o.answers})),
        resolvers_ok=len(ok),
        resolvers_failed=len(outcomes) - len(ok),
    )
    if ok and (config.require == "any" or len(ok) == len(outcomes)):
        return ProbeResult(ok=True, facts=facts)
    counts = Counter(o.error_class for o in outcomes if o.error_class)
    cls = max(_TIE_ORDER, key=lambda c: (counts[c], -_TIE_ORDER.index(c)))
    group = [o for o in outcomes if o.error_class == cls]
    first, k, n = group[0], len(group), len(outcomes)
    who = first.resolver if k == 1 else f"{k} resolvers" if k == n else f"{k} of {n} resolvers"
    message = {
        "dns_nxdomain": f"NXDOMAIN: {name} does not exist ({who})",
        "dns_servfail": f"SERVFAIL from {who} for {name}",
        "dns_refused": f"REFUSED by {who} for {name}",
        "dns_no_answer": f"no {first.detail} record for {name} ({who})",
        "dns_timeout": f"{who} did not answer for {name} within {budget:g}s",
        "dns_error": f"DNS lookup of {name} failed at {who}: {first.detail}",
    }[cls]
    others = Counter(o.error_class for o in outcomes if o.error_class != cls)
    if others:
        message += "; other resolvers: " + ", ".join(f"{c} {_SPLIT_WORDS[e]}" for e, c in others.items())
    return ProbeResult.fail(cls, message, **{**facts, "rcode": first.rcode})


async def _ask(resolver: str, name: str, record_types: list[str], budget: float) -> _Outcome:
    """Ask one resolver for every record type; its first failure (in config order) is its outcome."""
    ip, port = parse_resolver(resolver)
    try:
        async with asyncio.timeout(budget):
            outcomes = await asyncio.gather(*(_query(resolver, ip, port, name, t) for t in record_types))
    except TimeoutError:
        return _Outcome(resolver, "dns_timeout", rcode="")
    failed = [o for o in outcomes if o.error_class]
    return failed[0] if failed else _Outcome(resolver, answers=tuple(a for o in outcomes for a in o.answers))


async def _query(resolver: str, ip: str, port: int, name: str, record_type: str) -> _Outcome:
    query = dns.message.make_query(name, record_type)
    try:
        try:
            response = await dns.asyncquery.udp(query, ip, port=port, raise_on_truncation=True)
        except dns.message.Truncated:
            response = await dns.asyncquery.tcp(query, ip, port=port)
        rcode = dns.rcode.to_text(response.rcode())
        if rcode != "NOERROR":
            return _Outcome(resolver, _RCODE_CLASSES.get(rcode, "dns_error"), rcode, detail=rcode)
        rrset = response.resolve_chaining().answer  # follows CNAMEs (www -> star-mini.c10r...)
    except dns.exception.Timeout:
        return _Outcome(resolver, "dns_timeout", rcode="")
    except OSError as exc:  # ICMP port unreachable, no route, TCP connection refused
        return _Outcome(resolver, "dns_error", rcode="", detail=f"cannot reach it ({exc.strerror or exc})")
    except dns.exception.DNSException as exc:
        return _Outcome(resolver, "dns_error", rcode="", detail=f"invalid answer ({exc})")
    if rrset is None:
        return _Outcome(resolver, "dns_no_answer", detail=record_type)
    return _Outcome(
        resolver, answers=tuple(r.target.to_text(omit_final_dot=True) if r.rdtype == dns.rdatatype.NS else r.address for r in rrset)
    )


def rcode_number(text: str) -> int:
    """A DNS response code's number from its name as dnspython writes it; -1 for no answer at all."""
    if not text:
        return -1
    if text in DNS_RCODES:
        return DNS_RCODES[text]
    try:
        return int(dns.rcode.from_text(text))  # the rare ones (BADVERS, BADCOOKIE, ...)
    except (dns.rcode.UnknownRcode, ValueError):
        return -1


def _rcode(result: ProbeResult) -> Samples:
    return [((), rcode_number(str(result.facts.get("rcode") or "")))]


RCODE = FactGauge(
    "probe_dns_rcode",
    "DNS response code of the last lookup (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED; -1: no resolver answered)",
    _rcode,
)

KIND = ProbeKind(
    Config,
    probe,
    check_target,
    placeholders={"DNS_RCODE": "rcode", "DNS_ANSWERS": "answers", "RESOLVERS_OK": "resolvers_ok", "RESOLVERS_FAILED": "resolvers_failed"},
    error_classes=ERRORS,
    gauges=(RCODE,),
)
