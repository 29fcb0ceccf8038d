"""The Prometheus alerting rules: valid, unit-tested with promtool, and only over metrics the service exports.

The promtool tests need Debian's prometheus package (/usr/bin/promtool). Without it they skip on a
developer's machine and fail under CI=true (.ci/run installs it).
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics
from tests.support import ROOT

PROMETHEUS = ROOT / "dashboards" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
RULES_TEST = PROMETHEUS / "rules_test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
PROMTOOL_TIMEOUT = 60  # seconds; each run takes well under one
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Alerts the rules must define (issue 8).
EXPECTED_ALERTS = {
    "ChannelMonitorDown",
    "ChannelMonitorStalled",
    "ChannelDown",
    "CertificateExpiringSoon",
    "FailoverFrozen",
    "FailoverWaitingForApproval",
    "AlertDeliveryFailing",
    "AlertDeliveryFailedPermanently",
    "ConnectivityLost",
    "MonitorOverloaded",
}


def run_promtool(promtool: str, *args: str) -> str:
    try:
        done = subprocess.run([promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"promtool {' '.join(args)} took over {PROMTOOL_TIMEOUT}s:\n{exc.stdout or ''}{exc.stderr or ''}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(args)} exited {done.returncode}:\n{output}"
    return output


def test_promtool_checks_the_rules(promtool):
    output = run_promtool(promtool, "check", "rules", str(RULES.relative_to(ROOT)))
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in output, output


def test_promtool_unit_tests_of_the_rules_pass(promtool):
    output = run_promtool(promtool, "test", "rules", str(RULES_TEST.relative_to(ROOT)))
    assert "SUCCESS" in output, output


def test_promtool_checks_the_example_config(promtool):
    output = run_promtool(promtool, "check", "config", str(CONFIG.relative_to(ROOT)))
    assert "is valid prometheus config file syntax" in output, output


# Pure checks, no promtool needed.


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def exported() -> dict[str, set[str]]:
    """Every series name the service exports, with its label names (counters get _total, histograms their parts)."""
    metrics = Metrics(CollectorRegistry())
    names: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not hasattr(metric, "_type"):
            continue
        base, labels = metric._name, set(metric._labelnames)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(metric._type, [""])
        for suffix in suffixes:
            names[base + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    for family in metrics.families:  # the per-check and per-channel families (monitor/metric_table.py)
        names[family.name] = set(family.label_names)
    return names


def test_exported_names_match_the_registry():
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    families = {family.name for family in registry.collect()} | {f.name.removesuffix("_total") for f in metrics.families}
    assert {n.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for n in exported()} == families


def test_the_rules_define_every_alert_with_severity_and_annotations():
    by_name = {rule["alert"]: rule for rule in rules()}
    assert set(by_name) == EXPECTED_ALERTS
    for name, rule in by_name.items():
        assert "for" in rule, name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_every_metric_and_label_in_the_rules_is_exported():
    names = exported()
    used = set()
    for rule in rules():
        expr = rule["expr"]
        without_strings = re.sub(r'"[^"]*"', '""', expr)
        for metric in re.findall(r"[a-z_:][a-z0-9_:]*", without_strings):
            if metric.startswith(("channel_monitor_", "probe_")):
                used.add(metric)
                assert metric in names, f"{rule['alert']}: {metric} is not a metric the service exports"
        for metric, matchers in re.findall(r"([a-z_:][a-z0-9_:]*)\s*\{([^}]*)\}", without_strings):
            if metric in names:
                labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
                unknown = labels - names[metric] - TARGET_LABELS
                assert not unknown, f"{rule['alert']}: {metric} has no label {unknown}"
    assert len(used) >= 7, used
