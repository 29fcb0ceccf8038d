"""Every metric, defined once. Label values come from config (ids) or closed sets (states, error classes,
phases, windows), never from what a target answers, so cardinality is bounded by the config.

Per-check and per-channel families live in `metric_table` families (fast to render); the small
service-level ones in an injected prometheus-client registry. `render()` is the whole /metrics text.
Kind-specific probe gauges (HTTP phases, certificate expiry, DNS rcode...) are declared by each probe kind
(ProbeKind.gauges) and only recorded here.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from monitor.health import State
from monitor.metric_table import Family, render_bytes
from probes import PROBES
from probes.base import FactGauge, ProbeKind, ProbeResult
from probes.dns import DNS_RCODES  # noqa: F401 - re-exported: the dashboards generator and tests read them here
from probes.http import HTTP_PHASES, http_phases  # noqa: F401 - re-exported, as above

PREFIX = "channel_monitor"
# Scheduling lag is the one latency we promise (p99 under 1 s), so the buckets are dense below 1 s.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
CHECK_LABELS = ("channel", "check", "kind")
# Outcomes of an alert delivery (alerts/router.py) and of a failover action (monitor/failover/actions.py).
ALERT_OUTCOMES = ("sent", "failed", "permanent")
ACTION_OUTCOMES = ("applied", "retry", "failed", "conflict")
# Why the scheduler skipped a run (monitor/scheduler.py WHY).
SKIP_REASONS = ("late", "busy", "capacity", "stalled")
# The always-on log line every alert gets (monitor.reactions.AlertPublisher), counted like a notifier.
SERVICE_LOG = "service-log"


class Metrics:
    """The service's metrics. Probe metrics reuse blackbox_exporter's names so PromQL habits carry over."""

    def __init__(self, registry: CollectorRegistry, probes: Mapping[str, ProbeKind] = PROBES, location: str | None = None) -> None:
        """`location`: a prober's (--role probe), added as a `location` label to every probe metric, so that one
        Prometheus sees each location's results apart; None (one process) adds nothing."""
        self.registry = registry
        here = (("location", location),) if location is not None else ()

        def fam(name: str, help_text: str, labels: tuple[str, ...], metric_type: str = "gauge") -> Family:
            return Family(name, help_text, labels, metric_type, here)

        self.probe_success = fam("probe_success", "1 if the check's last probe succeeded", CHECK_LABELS)
        self.probe_duration = fam("probe_duration_seconds", "How long the check's last probe took", CHECK_LABELS)
        self._gauges, kind_families = _kind_gauges(probes, here)
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
        fam = Family  # per channel: decided once, wherever the results came from
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
            *kind_families,
            self.probes,
            self.probe_failures,
            self.missed_runs,
            self.channel_state,
            self.uptime,
            self.incident_open,
            self.failed_over,
            self.flapping,
        )
        self._service_metrics(registry)
        self._failover_metrics(registry)

    def _service_metrics(self, registry: CollectorRegistry) -> None:
        self.scheduler_lag = Histogram(
            f"{PREFIX}_scheduler_lag_seconds", "How late a probe started after it was due", buckets=LAG_BUCKETS, registry=registry
        )
        self.results_written = Counter(f"{PREFIX}_results_written", "Probe results stored in the database", registry=registry)
        self.results_dropped = Gauge(f"{PREFIX}_results_dropped", "Results shed because the database kept failing", registry=registry)
        self.writer_queue = Gauge(f"{PREFIX}_writer_queue_depth", "Rows waiting to be written", registry=registry)
        self.connectivity_lost = Gauge(
            f"{PREFIX}_connectivity_lost", "1 while the monitor's own network seems down (channel states frozen)", registry=registry
        )
        self.overloaded = Gauge(
            f"{PREFIX}_overloaded", "1 while the monitor cannot start its checks on time (failures do not count)", registry=registry
        )
        self.skipped_runs = Counter(
            f"{PREFIX}_scheduler_skipped_runs",
            "Runs skipped, by why: late (the event loop was busy), busy (the previous run still going), capacity (max_in_flight), "
            "stalled (timed out while our event loop stalled)",
            ("why",),
            registry=registry,
        )
        self.alerts = Counter(
            f"{PREFIX}_alerts",
            "Alert deliveries by notifier and outcome (sent, failed, permanent)",
            ("notifier", "outcome"),
            registry=registry,
        )
        self.decision_lag = Histogram(
            f"{PREFIX}_decision_lag_seconds",
            "How old a probe result is when the decider (--role decide) counts it: from when it was taken to its vote",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.results_read = Counter(
            f"{PREFIX}_decider_results_read", "Probe results the decider (--role decide) read from every location", registry=registry
        )
        self.last_cycle = Gauge(f"{PREFIX}_last_cycle_timestamp_seconds", "When the last probe finished", registry=registry)
        self.shortest_interval = Gauge(
            f"{PREFIX}_shortest_check_interval_seconds",
            "The shortest configured check interval: with all well, a probe finishes at least this often",
            registry=registry,
        )

    def _failover_metrics(self, registry: CollectorRegistry) -> None:
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

    def render(self) -> bytes:
        """The whole /metrics text (format 0.0.4). On the event loop: the families are only changed there."""
        return render_bytes(self.families, generate_latest(self.registry))

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
        for why in SKIP_REASONS:
            self.skipped_runs.labels(why)
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
        """Record one probe's result: success, duration, the reason, and its kind's gauges from the facts it carries."""
        labels = (channel, check, kind)
        self.probe_success.set(labels, 1 if result.ok else 0)
        self.probe_duration.set(labels, duration)
        self.probes.inc(labels)
        if not result.ok:
            self.probe_failures.inc(labels + (result.error_class or "internal_error",))
        for family, gauge in self._gauges.get(kind, ()):
            for extra, value in gauge.samples(result):
                if value is None:
                    family.remove(labels + extra)
                else:
                    family.set(labels + extra, value)


def _kind_gauges(
    probes: Mapping[str, ProbeKind], const: tuple[tuple[str, str], ...] = ()
) -> tuple[dict[str, list[tuple[Family, FactGauge]]], list[Family]]:
    """One family per gauge the probe kinds declare (a gauge two kinds share, once), and each kind's gauges."""
    families: dict[str, tuple[Family, FactGauge]] = {}
    by_kind: dict[str, list[tuple[Family, FactGauge]]] = {}
    for name, kind in probes.items():
        for gauge in kind.gauges:
            if gauge.name not in families:
                families[gauge.name] = (Family(gauge.name, gauge.help, CHECK_LABELS + gauge.labels, "gauge", const), gauge)
            elif families[gauge.name][1] != gauge:
                raise ValueError(f"probe kinds declare the gauge {gauge.name} differently")
            by_kind.setdefault(name, []).append((families[gauge.name][0], gauge))
    return by_kind, [family for family, _ in families.values()]
