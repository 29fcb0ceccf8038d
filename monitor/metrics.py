"""Every metric, defined once against an injected registry. Labels come from config only."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.health import State

PREFIX = "channel_monitor"
# Scheduling lag is the one latency we promise (p99 under 1 s), so the buckets are dense below 1 s.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics. Probe metrics reuse blackbox_exporter's names."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        check = ("channel", "check", "kind")
        self.probe_success = Gauge("probe_success", "1 if the last probe of the check succeeded", check, registry=registry)
        self.probe_duration = Gauge("probe_duration_seconds", "How long the last probe took", check, registry=registry)
        self.probe_failures = Counter(f"{PREFIX}_probe_failures", "Failed probes by reason",
                                      check + ("error_class",), registry=registry)
        self.probes = Counter(f"{PREFIX}_probes", "Probes run", check, registry=registry)
        self.channel_state = Gauge(f"{PREFIX}_channel_state", "1 for the channel's current state, 0 for the others",
                                   ("channel", "state"), registry=registry)
        self.scheduler_lag = Histogram(f"{PREFIX}_scheduler_lag_seconds", "How late a probe started after it was due",
                                       buckets=LAG_BUCKETS, registry=registry)
        self.missed_runs = Counter(f"{PREFIX}_scheduler_missed_runs", "Runs skipped because the previous one was still going or too late",
                                   ("channel", "check"), registry=registry)
        self.results_written = Counter(f"{PREFIX}_results_written", "Probe results stored in the database", registry=registry)
        self.results_dropped = Gauge(f"{PREFIX}_results_dropped", "Results shed because the database kept failing", registry=registry)
        self.writer_queue = Gauge(f"{PREFIX}_writer_queue_depth", "Rows waiting to be written", registry=registry)
        self.connectivity_lost = Gauge(f"{PREFIX}_connectivity_lost", "1 while the monitor's own network seems down "
                                       "(channel states frozen)", registry=registry)
        self.failed_over = Gauge(f"{PREFIX}_failover_failed_over", "1 while the channel's promotions are moved away",
                                 ("channel",), registry=registry)
        self.planned_amount = Gauge(f"{PREFIX}_failover_planned_amount", "What failover last planned for a promotion "
                                    "on a channel (minor units or weight; notices: 1 = posted)",
                                    ("kind", "owner", "channel"), registry=registry)
        self.failover_frozen = Gauge(f"{PREFIX}_failover_frozen", "1 while a promotion or notice is frozen (no moves)",
                                     ("kind", "owner"), registry=registry)
        self.failover_pending_approval = Gauge(f"{PREFIX}_failover_pending_approval", "1 while a plan waits for approval",
                                               ("kind", "owner"), registry=registry)
        self.actions = Counter(f"{PREFIX}_failover_actions", "Failover action attempts by actuator and outcome",
                               ("actuator", "outcome"), registry=registry)
        self.alerts = Counter(f"{PREFIX}_alerts", "Alert deliveries by notifier and outcome (sent, failed, permanent)",
                              ("notifier", "outcome"), registry=registry)
        self.last_cycle = Gauge(f"{PREFIX}_last_cycle_timestamp_seconds", "When the last probe finished", registry=registry)

    def set_channel_state(self, channel: str, state: State) -> None:
        """Set one state gauge to 1 and the others to 0."""
        for candidate in State:
            self.channel_state.labels(channel, candidate.value).set(1 if candidate is state else 0)
