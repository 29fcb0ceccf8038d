"""The metrics the service exports: blackbox-style probe metrics from a result's facts, valid text that
Prometheus' own linter accepts, bounded labels, and the gauges read from the database."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from monitor import db_gauges
from monitor.health import State
from monitor.metric_table import Family, escape_label_value, format_value, render
from monitor.metrics import Metrics, http_phases
from monitor.store.models import FailoverTargetRow, IncidentRow, ProbeResultRow
from probes.base import ProbeResult

NOW = 1_793_539_234.5

HTTP_FACTS = {
    "status": 200,
    "response_time_seconds": 0.5,
    "first_byte_seconds": 0.3,
    "dns_seconds": 0.02,
    "connect_seconds": 0.08,
    "cert_not_after": 1_800_000_000.0,
    "cert_expiry_seconds": 6_460_765.5,
    "body_bytes": 1234,
}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Everything /metrics would show, parsed back with prometheus-client's own parser."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_an_http_result_gives_blackbox_metrics():
    metrics = Metrics(CollectorRegistry())
    metrics.observe_probe("allegro", "home", "http", ProbeResult(ok=True, facts=HTTP_FACTS), 0.51)
    got = samples(metrics)
    check = {"channel": "allegro", "check": "home", "kind": "http"}
    assert got[key("probe_success", **check)] == 1
    assert got[key("probe_duration_seconds", **check)] == 0.51
    assert got[key("probe_http_status_code", **check)] == 200
    assert got[key("probe_ssl_earliest_cert_expiry", **check)] == 1_800_000_000
    phases = {p: got[key("probe_http_duration_seconds", **check, phase=p)] for p in ("resolve", "connect", "processing", "transfer")}
    assert phases == pytest.approx({"resolve": 0.02, "connect": 0.08, "processing": 0.2, "transfer": 0.2})
    assert got[key("channel_monitor_probes_total", **check)] == 1
    assert not any(name == "channel_monitor_probe_failures_total" for name, _ in got)


def test_a_prober_s_probe_metrics_carry_its_location_and_the_channel_metrics_do_not():
    metrics = Metrics(CollectorRegistry(), location="waw")
    metrics.observe_probe("allegro", "home", "http", ProbeResult(ok=False, error_class="http_status", facts=HTTP_FACTS), 0.51)
    metrics.set_channel_state("allegro", State.UP)
    got = samples(metrics)
    check = {"channel": "allegro", "check": "home", "kind": "http", "location": "waw"}
    assert got[key("probe_success", **check)] == 0
    assert got[key("probe_http_duration_seconds", **check, phase="connect")] == pytest.approx(0.08)
    assert got[key("channel_monitor_probe_failures_total", **check, error_class="http_status")] == 1
    assert got[key("channel_monitor_channel_state", channel="allegro", state="up")] == 1
    assert all(dict(labels).get("location") in (None, "waw") for _, labels in got)


def test_a_failure_counts_its_reason_and_a_request_without_answer_zeroes_status_and_phases():
    metrics = Metrics(CollectorRegistry())
    metrics.observe_probe("allegro", "home", "http", ProbeResult(ok=True, facts=HTTP_FACTS), 0.5)
    refused = ProbeResult.fail("connect_refused", "connection refused")
    metrics.observe_probe("allegro", "home", "http", refused, 0.01)
    metrics.observe_probe("allegro", "home", "http", refused, 0.01)
    got = samples(metrics)
    check = {"channel": "allegro", "check": "home", "kind": "http"}
    assert got[key("probe_success", **check)] == 0
    assert got[key("channel_monitor_probes_total", **check)] == 3
    assert got[key("channel_monitor_probe_failures_total", **check, error_class="connect_refused")] == 2
    assert got[key("probe_http_status_code", **check)] == 0
    assert got[key("probe_http_duration_seconds", **check, phase="transfer")] == 0
    # The certificate seen last stays known: a refused connection says nothing new about it.
    assert got[key("probe_ssl_earliest_cert_expiry", **check)] == 1_800_000_000
    # A good answer without a certificate (the site now redirects to plain http): no expiry to watch.
    metrics.observe_probe("allegro", "home", "http", ProbeResult(ok=True, facts={"status": 200}), 0.1)
    assert metrics.value("probe_ssl_earliest_cert_expiry", check) is None


@pytest.mark.parametrize(
    ("rcode", "value"), [("NOERROR", 0), ("SERVFAIL", 2), ("NXDOMAIN", 3), ("REFUSED", 5), ("", -1), ("BADVERS", 16), ("NOT-A-CODE", -1)]
)
def test_dns_rcode_is_the_numeric_code(rcode, value):
    metrics = Metrics(CollectorRegistry())
    result = ProbeResult(ok=rcode == "NOERROR", error_class=None if rcode == "NOERROR" else "dns_error", facts={"rcode": rcode})
    metrics.observe_probe("facebook", "dns", "dns", result, 0.1)
    assert metrics.value("probe_dns_rcode", {"channel": "facebook", "check": "dns", "kind": "dns"}) == value
    assert metrics.value("probe_http_status_code", {"channel": "facebook", "check": "dns", "kind": "dns"}) is None


def test_a_statuspage_status_word_is_not_an_http_status():
    metrics = Metrics(CollectorRegistry())
    metrics.observe_probe("meta", "vendor", "statuspage", ProbeResult(ok=True, facts={"status": "operational"}), 0.1)
    assert metrics.value("probe_http_status_code", {"channel": "meta", "check": "vendor", "kind": "statuspage"}) is None


def test_phases_are_zero_for_what_was_not_measured():
    assert http_phases({}) == {"resolve": 0.0, "connect": 0.0, "processing": 0.0, "transfer": 0.0}
    # A pooled connection (no DNS, no connect) is all processing and transfer.
    assert http_phases({"first_byte_seconds": 0.1, "response_time_seconds": 0.4}) == pytest.approx(
        {"resolve": 0.0, "connect": 0.0, "processing": 0.1, "transfer": 0.3}
    )


def test_label_values_are_escaped_and_parse_back():
    family = Family("channel_monitor_test_value", "a test\nwith a newline", ("channel",))
    nasty = 'a "quoted" back\\slash\nnewline'
    family.set((nasty,), 0.25)
    family.set(("plain",), float("inf"))
    family.set(("nan",), float("nan"))
    text = render([family])
    assert 'channel="a \\"quoted\\" back\\\\slash\\nnewline"' in text
    [parsed] = list(text_string_to_metric_families(text))
    values = {s.labels["channel"]: s.value for s in parsed.samples}
    assert values[nasty] == 0.25 and values["plain"] == float("inf") and values["nan"] != values["nan"]
    assert escape_label_value("x") == "x" and format_value(float("-inf")) == "-Inf" and format_value(2) == "2.0"


def test_a_family_rejects_a_wrong_label_count_and_a_counter_without_total():
    family = Family("channel_monitor_x", "x", ("channel", "check"))
    with pytest.raises(ValueError, match="takes labels"):
        family.set(("only-one",), 1)
    with pytest.raises(ValueError, match="must end in _total"):
        Family("channel_monitor_runs", "x", (), "counter")
    assert render([family]) == ""  # a family without samples shows nothing, not a bare HELP line


def every_family_touched() -> Metrics:
    metrics = Metrics(CollectorRegistry())
    metrics.observe_probe("allegro", "home", "http", ProbeResult(ok=True, facts=HTTP_FACTS), 0.5)
    metrics.observe_probe(
        "allegro",
        "home",
        "http",
        ProbeResult.fail("http_status", "HTTP 503", status=503, response_time_seconds=0.1, first_byte_seconds=0.1),
        0.1,
    )
    metrics.observe_probe("facebook", "dns", "dns", ProbeResult.fail("dns_servfail", "SERVFAIL", rcode="SERVFAIL"), 0.2)
    metrics.missed_runs.inc(("allegro", "home"))
    metrics.set_channel_state("allegro", State.DOWN)
    metrics.uptime.set(("allegro", "24h"), 0.99)
    metrics.incident_open.set(("allegro",), 1)
    metrics.failed_over.set(("allegro",), 1)
    metrics.scheduler_lag.observe(0.01)
    metrics.results_written.inc(3)
    metrics.planned_amount.labels("promotion", "xmas", "allegro").set(0)
    metrics.applied_amount.labels("promotion", "xmas", "allegro").set(0)
    metrics.normal_amount.labels("promotion", "xmas", "allegro").set(5000)
    metrics.failover_frozen.labels("promotion", "xmas").set(0)
    metrics.failover_pending_approval.labels("promotion", "xmas").set(0)
    metrics.actions.labels("webhook", "applied").inc()
    metrics.alerts.labels("slack", "sent").inc()
    metrics.last_cycle.set(NOW)
    return metrics


def test_prometheus_lint_accepts_the_whole_exposition(promtool):
    text = every_family_touched().render()
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    names = {f.name for f in text_string_to_metric_families(text.decode())}
    assert {
        "probe_success",
        "probe_http_duration_seconds",
        "probe_ssl_earliest_cert_expiry",
        "probe_dns_rcode",
        "channel_monitor_uptime_ratio",
        "channel_monitor_incident_open",
        "channel_monitor_failover_applied_amount",
        "channel_monitor_scheduler_missed_runs",
        "channel_monitor_scheduler_lag_seconds",
    } <= names


def test_the_database_gauges_read_uptime_incidents_and_applied_values(engine):
    rows = [
        {
            "at": NOW - 60 * i,
            "channel": "allegro",
            "check": "home",
            "kind": "http",
            "ok": i % 4 != 0,
            "error_class": None,
            "error": None,
            "duration_seconds": 0.1,
            "facts": "{}",
            "severity": None,
            "channel_state": "down" if i % 4 == 0 else "up",
        }
        for i in range(1, 41)
    ]
    with engine.begin() as conn:
        conn.execute(insert(ProbeResultRow), rows)
        conn.execute(insert(IncidentRow), [{"channel": "allegro", "started_at": NOW - 600, "ended_at": None, "cause": "{}"}])
        conn.execute(
            insert(FailoverTargetRow),
            [
                {"owner_kind": "promotion", "owner": "xmas", "channel": "allegro", "planned": 0, "applied": 0, "updated_at": NOW},
                {"owner_kind": "promotion", "owner": "xmas", "channel": "amazon", "planned": 9000, "applied": None, "updated_at": NOW},
                {"owner_kind": "promotion", "owner": "gone", "channel": "amazon", "planned": 1, "applied": 1, "updated_at": NOW},
                {"owner_kind": "promotion", "owner": "xmas", "channel": "ceneo", "planned": 1, "applied": 1, "updated_at": NOW},
            ],
        )
    metrics = Metrics(CollectorRegistry())
    metrics.uptime.set(("amazon", "24h"), 1.0)  # from an earlier reading: amazon has no results now
    db_gauges.apply(
        metrics, db_gauges.read(engine, NOW), ["allegro", "amazon"], {("promotion", "xmas", "allegro"), ("promotion", "xmas", "amazon")}
    )
    assert metrics.value("channel_monitor_uptime_ratio", {"channel": "allegro", "window": "24h"}) == 0.75
    assert metrics.value("channel_monitor_uptime_ratio", {"channel": "amazon", "window": "24h"}) is None
    assert metrics.value("channel_monitor_incident_open", {"channel": "allegro"}) == 1
    assert metrics.value("channel_monitor_incident_open", {"channel": "amazon"}) == 0
    applied = {"kind": "promotion", "owner": "xmas", "channel": "allegro"}
    assert metrics.value("channel_monitor_failover_applied_amount", applied) == 0
    assert metrics.value("channel_monitor_failover_applied_amount", {**applied, "channel": "amazon"}) is None
    assert metrics.value("channel_monitor_failover_applied_amount", {**applied, "owner": "gone", "channel": "amazon"}) is None
    # ceneo was taken out of the promotion's config: its old row is not shown
    assert metrics.value("channel_monitor_failover_applied_amount", {**applied, "channel": "ceneo"}) is None


def test_counters_the_config_allows_start_at_zero():
    metrics = Metrics(CollectorRegistry())
    metrics.start_at_zero([("allegro", "home", "http")], ["service-log", "slack"], ["webhook"])
    assert metrics.value("channel_monitor_scheduler_missed_runs_total", {"channel": "allegro", "check": "home"}) == 0
    assert metrics.value("channel_monitor_probes_total", {"channel": "allegro", "check": "home", "kind": "http"}) == 0
    for outcome in ("sent", "failed", "permanent"):
        assert metrics.value("channel_monitor_alerts_total", {"notifier": "slack", "outcome": outcome}) == 0
    for outcome in ("applied", "retry", "failed", "conflict"):
        assert metrics.value("channel_monitor_failover_actions_total", {"actuator": "webhook", "outcome": outcome}) == 0


def test_a_rendering_in_progress_survives_series_added_and_removed_meanwhile():
    # Family.lines() is a generator: a caller may record results between two of its lines.
    family = Family("channel_monitor_test_value", "a test", ("channel",))
    for i in range(5):
        family.set((f"c{i}",), i)
    lines = family.lines()
    started = [next(lines), next(lines), next(lines)]  # HELP, TYPE, the first sample
    family.set(("new",), 9)
    family.remove(("c3",))
    rest = list(lines)
    assert started[2] == 'channel_monitor_test_value{channel="c0"} 0\n'
    assert rest == [f'channel_monitor_test_value{{channel="c{i}"}} {i}\n' for i in (1, 2, 4)]


def test_a_reading_without_uptime_keeps_the_uptime_gauges(engine):
    metrics = Metrics(CollectorRegistry())
    metrics.uptime.set(("allegro", "24h"), 0.5)
    reading = db_gauges.read(engine, NOW, uptime=False)  # a wake after a state change: incidents only
    assert reading.uptime is None
    db_gauges.apply(metrics, reading, ["allegro"], set())
    assert metrics.value("channel_monitor_uptime_ratio", {"channel": "allegro", "window": "24h"}) == 0.5
    assert metrics.value("channel_monitor_incident_open", {"channel": "allegro"}) == 0
