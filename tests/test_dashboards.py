"""The Grafana dashboard only queries metrics the service really exports."""
from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.health import State
from monitor.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "grafana" / "channel-monitor.json"
PROMQL_WORDS = {"max", "sum", "by", "rate", "histogram_quantile", "time", "le", "channel", "state", "error_class",
                "check", "up", "down", "label_values"}


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    # Touch every labelled metric once so each family shows its samples.
    metrics.probe_success.labels("c", "k", "http").set(1)
    metrics.probe_duration.labels("c", "k", "http").set(1)
    metrics.probes.labels("c", "k", "http").inc()
    metrics.probe_failures.labels("c", "k", "http", "timeout").inc()
    metrics.missed_runs.labels("c", "k").inc()
    metrics.scheduler_lag.observe(0.1)
    metrics.set_channel_state("c", State.UP)
    return {sample.name for family in registry.collect() for sample in family.samples}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def test_dashboard_is_importable_json_with_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "channel-monitor"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource", "channel"]
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])


def test_every_metric_in_the_dashboard_is_exported():
    names = exported_names()
    used = set()
    for expr in dashboard_exprs():
        without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
        used |= {w for w in re.findall(r"[a-z_][a-z0-9_]*", without_labels) if w not in PROMQL_WORDS}
    assert used, "the dashboard queries something"
    assert used - names == set()
