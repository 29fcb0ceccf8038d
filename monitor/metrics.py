"""Every metric, defined once. Label values come from config (ids) or closed sets (states, error classes,
phases, windows), never from what a target answers, so cardinality is bounded by the config.

Per-check and per-channel families live in `metric_table` families (fast to render); the small
service-level ones in an injected prometheus-client registry. `render()` is the whole /metrics text.
"""

from __future__ import annotations

from collections.abc import Mapping

import dns.rcode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from monitor.health import State
from monitor.metric_table import Family, render
from probes.base import Fact, ProbeResult

PREFIX = "channel_monitor"
# Scheduling lag is the one latency we promise (p99 under 1 s), so the buckets are dense below 1 s.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
CHECK_LABELS = ("channel", "check", "kind")
# blackbox_exporter's HTTP phases. Ours: resolve = DNS lookup; connect = TCP connect and, for https, the
# TLS handshake (aiohttp reports them as one step); processing = request sent to first byte;
# transfer = first byte to the end of the body.
HTTP_PHASES = ("resolve", "connect", "processing", "transfer")
# The common DNS response codes by name (RFC 1035/6895) as dnspython spells them (others: rcode_number);
# -1 when no resolver answered.
# Outcomes of an alert delivery (alerts/router.py) and of a failover action (monitor/failover/actions.py).
ALERT_OUTCOMES = ("sent", "failed", "permanent")
ACTION_OUTCOMES = ("applied", "retry", "failed", "conflict")
# The always-on log line every alert gets (monitor.reactions.AlertPublisher), counted like a notifier.
SERVICE_LOG = "service-log"
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


class Metrics:
    """The service's metrics. Probe metrics reuse blackbox_exporter's names so PromQL habits carry over."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        fam = Family
        self.probe_success = fam("probe_success", "1 if the check's last probe succeeded", CHECK_LABELS)
        self.probe_duration = fam("probe_duration_seconds", "How long the check's last probe took", CHECK_LABELS)
        self.http_phase = fam(
            "probe_http_duration_seconds",
            "Duration of each phase of the last HTTP request (connect includes the TLS handshake; 0 for a phase not reached)",
            CHECK_LABELS + ("phase",),
        )
        self.http_status = fam("probe_http_status_code", "HTTP status of the last response (0: no response)", CHECK_LABELS)
        self.cert_expiry = fam(
            "probe_ssl_earliest_cert_expiry", "When the server's (leaf) certificate last seen expires (Unix time)", CHECK_LABELS
        )
        self.dns_rcode = fam(
            "probe_dns_rcode",
            "DNS response code of the last lookup (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED; -1: no resolver answered)",
            CHECK_LABELS,
        )
        self.probes = fam(f"{PREFIX}_probes_total", "Probes run", CHECK_LABELS, "counter")
        self.probe_failures = fam(
            f"{PREFIX}_probe_failures_total",
            "Failed probes by reason (error_class: see README, Failure reasons)",
            CHECK_LABELS + ("error_class",),
            "counter",
        )
        self.missed_runs = fam(
            f"{PREFIX}_scheduler_missed_runs_total",
            "Runs skipped because the previous one was still going or too late",
            ("channel", "check"),
            "counter",
        )
        self.channel_state = fam(f"{PREFIX}_channel_state", "1 for the channel's current state, 0 for the others", ("channel", "state"))
        self.uptime = fam(
            f"{PREFIX}_uptime_ratio",
            "Share of results that found the channel available, by window (as the status page counts it; refreshed every minute)",
            ("channel", "window"),
        )
        self.incident_open = fam(f"{PREFIX}_incident_open", "1 while the channel has an open incident", ("channel",))
        self.failed_over = fam(f"{PREFIX}_failover_failed_over", "1 while the channel's promotions are moved away", ("channel",))
        self.flapping = fam(f"{PREFIX}_channel_flapping", "1 while the channel is flapping (its results keep changing)", ("channel",))
        self.families = (
            self.probe_success,
            self.probe_duration,
            self.http_phase,
            self.http_status,
            self.cert_expiry,
            self.dns_rcode,
            self.probes,
            self.probe_failures,
            self.missed_runs,
            self.channel_state,
            self.uptime,
            self.incident_open,
            self.failed_over,
            self.flapping,
        )

        self.scheduler_lag = Histogram(
            f"{PREFIX}_scheduler_lag_seconds", "How late a probe started after it was due", buckets=LAG_BUCKETS, registry=registry
        )
        self.results_written = Counter(f"{PREFIX}_results_written", "Probe results stored in the database", registry=registry)
        self.results_dropped = Gauge(f"{PREFIX}_results_dropped", "Results shed because the database kept failing", registry=registry)
        self.writer_queue = Gauge(f"{PREFIX}_writer_queue_depth", "Rows waiting to be written", registry=registry)
        self.connectivity_lost = Gauge(
            f"{PREFIX}_connectivity_lost", "1 while the monitor's own network seems down (channel states frozen)", registry=registry
        )
        owner = ("kind", "owner", "channel")
        self.planned_amount = Gauge(
            f"{PREFIX}_failover_planned_amount",
            "What failover last planned for a promotion on a channel (minor units or weight; notices: 1 = posted)",
            owner,
            registry=registry,
        )
        self.applied_amount = Gauge(
            f"{PREFIX}_failover_applied_amount",
            "What the channel last confirmed for a promotion (absent until an action was acknowledged)",
            owner,
            registry=registry,
        )
        self.normal_amount = Gauge(
            f"{PREFIX}_failover_normal_amount",
            "The promotion's configured amount on a channel when every channel is healthy",
            owner,
            registry=registry,
        )
        self.failover_frozen = Gauge(
            f"{PREFIX}_failover_frozen", "1 while a promotion or notice is frozen (no moves)", ("kind", "owner"), registry=registry
        )
        self.failover_pending_approval = Gauge(
            f"{PREFIX}_failover_pending_approval", "1 while a plan waits for approval", ("kind", "owner"), registry=registry
        )
        self.actions = Counter(
            f"{PREFIX}_failover_actions", "Failover action attempts by actuator and outcome", ("actuator", "outcome"), registry=registry
        )
        self.alerts = Counter(
            f"{PREFIX}_alerts",
            "Alert deliveries by notifier and outcome (sent, failed, permanent)",
            ("notifier", "outcome"),
            registry=registry,
        )
        self.last_cycle = Gauge(f"{PREFIX}_last_cycle_timestamp_seconds", "When the last probe finished", registry=registry)
        self.shortest_interval = Gauge(
            f"{PREFIX}_shortest_check_interval_seconds",
            "The shortest configured check interval: with all well, a probe finishes at least this often",
            registry=registry,
        )

    def render(self) -> bytes:
        """The whole /metrics text (format 0.0.4)."""
        return generate_latest(self.registry) + render(self.families).encode()

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample's value by metric name and labels, from either store (None when it has no sample)."""
        labels = labels or {}
        for family in self.families:
            if family.name == name and set(labels) == set(family.label_names):
                return family.get(tuple(labels[n] for n in family.label_names))
        return self.registry.get_sample_value(name, dict(labels))

    def start_at_zero(self, checks: list[tuple[str, str, str]], notifiers: list[str], actuators: list[str]) -> None:
        """Create every counter series the config allows, at 0: `rate()` and `increase()` then see the first
        event, and alert rules over them evaluate to 0 rather than to nothing."""
        for channel, check, kind in checks:  # (a failure reason's first time is still seen from its second)
            self.missed_runs.inc((channel, check), 0)
            self.probes.inc((channel, check, kind), 0)
        for notifier in notifiers:
            for outcome in ALERT_OUTCOMES:
                self.alerts.labels(notifier, outcome)
        for actuator in actuators:
            for outcome in ACTION_OUTCOMES:
                self.actions.labels(actuator, outcome)

    def set_channel_state(self, channel: str, state: State) -> None:
        """Set one state gauge to 1 and the others to 0."""
        for candidate in State:
            self.channel_state.set((channel, candidate.value), 1 if candidate is state else 0)

    def observe_probe(self, channel: str, check: str, kind: str, result: ProbeResult, duration: float) -> None:
        """Record one probe's result: success, duration, the blackbox-style facts it carries, the reason."""
        labels = (channel, check, kind)
        self.probe_success.set(labels, 1 if result.ok else 0)
        self.probe_duration.set(labels, duration)
        self.probes.inc(labels)
        if not result.ok:
            self.probe_failures.inc(labels + (result.error_class or "internal_error",))
        facts = result.facts
        if kind == "http" or "response_time_seconds" in facts:
            # Like blackbox_exporter: a request that got no answer shows status 0 and zero phases.
            for phase, seconds in http_phases(facts).items():
                self.http_phase.set(labels + (phase,), seconds)
            status = facts.get("status")
            self.http_status.set(labels, status if isinstance(status, int) and not isinstance(status, bool) else 0)
        not_after = facts.get("cert_not_after")
        if isinstance(not_after, (int, float)) and not isinstance(not_after, bool):
            self.cert_expiry.set(labels, float(not_after))
        elif result.ok:  # a good answer without a certificate (the target moved to plain http): none to expire
            self.cert_expiry.remove(labels)
        if kind == "dns":
            self.dns_rcode.set(labels, rcode_number(str(facts.get("rcode") or "")))


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


def http_phases(facts: Mapping[str, Fact]) -> dict[str, float]:
    """blackbox_exporter's phases from an HTTP result's facts (0 for a phase not reached or not measured)."""

    def number(key: str) -> float:
        value = facts.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

    resolve, connect = number("dns_seconds"), number("connect_seconds")
    first_byte, total = number("first_byte_seconds"), number("response_time_seconds")
    return {
        "resolve": resolve,
        "connect": connect,  # rounded to the facts' microseconds: no 5.6000000001e-05
        "processing": round(max(0.0, first_byte - resolve - connect), 6) if first_byte else 0.0,
        "transfer": round(max(0.0, total - first_byte), 6) if first_byte else 0.0,
    }
