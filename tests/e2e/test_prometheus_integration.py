"""The dashboard and the alerting rules against a real Prometheus scraping the real service.

The service runs as the Docker image runs it (`channel-monitor run`, the built-in demo channels), a real
Prometheus (Debian's package) scrapes it every second on loopback with the rules loaded, a demo channel
is broken, and then every PromQL expression of the Grafana dashboard and of the rules goes through
Prometheus' HTTP API: each must parse, and each must return data. A panel that queries a metric the
service does not export, or a label it does not have, fails here. Without /usr/bin/prometheus this
skips on a developer's machine and fails under CI=true (.ci/run installs it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT
from tests.support.cli import free_port

DASHBOARD = ROOT / "dashboards" / "grafana" / "channel-monitor.json"
RULES = ROOT / "dashboards" / "prometheus" / "rules.yml"
JOB = "channel-monitor"
# What Grafana puts in place of its variables: the channel variable's "All" value, and intervals that
# hold several of this test's 1 s scrapes.
GRAFANA_VARIABLES = {
    "${channel}": ".*",
    "$channel": ".*",
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$__range": "5m",
    "${datasource}": "",
    "$datasource": "",
}
WAIT_SECONDS = 120  # the longest any one condition below is waited for
BROKEN = "facebook-shop"  # its share of the demo promotion moves after the 10 s hold-down


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def wait_for(what: str, condition: Callable[[], object], timeout: float = WAIT_SECONDS) -> object:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except OSError as exc:  # not listening yet
            last_error = exc
        time.sleep(0.5)
    pytest.fail(f"waited {timeout:g}s for {what}" + (f" (last error: {last_error})" if last_error else ""))


def start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Stack:
    def __init__(self, service_url: str, prometheus_url: str, logs: list[Path]) -> None:
        self.service_url, self.prometheus_url, self.logs = service_url, prometheus_url, logs

    def query(self, expr: str) -> dict:
        """An instant query; the whole answer (status, data or error)."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            return get_json(url)
        except urllib.error.HTTPError as exc:  # 400 for a query that does not parse, with the reason
            return json.loads(exc.read() or b"{}") or {"status": "error", "error": str(exc)}

    def has_data(self, expr: str) -> bool:
        answer = self.query(expr)
        return answer.get("status") == "success" and returns_data(answer["data"])

    def tail(self) -> str:
        return "\n".join(f"--- {log.name}:\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)


def returns_data(data: dict) -> bool:
    return data["resultType"] == "scalar" or bool(data["result"])


@pytest.fixture(scope="module")
def stack(prometheus_binary: str, tmp_path_factory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prometheus-integration")
    service_port, prometheus_port = free_port(), free_port()
    # The Docker image's entry point (Dockerfile: ENTRYPOINT channel-monitor, CMD run ...), on loopback.
    entry_point = Path(sys.executable).with_name("channel-monitor")
    service = start(
        [str(entry_point), "run", "--listen", f"127.0.0.1:{service_port}", "--data-dir", str(work / "data")], work / "service.log"
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{service_port}"]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus = start(
        [
            prometheus_binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ],
        work / "prometheus.log",
    )
    stack = Stack(
        f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{prometheus_port}", [work / "service.log", work / "prometheus.log"]
    )
    try:
        wait_for("the service's /healthz", lambda: get_json(stack.service_url + "/healthz")["status"] == "ok", 60)
        wait_for("Prometheus to be ready", lambda: urllib.request.urlopen(stack.prometheus_url + "/-/ready", timeout=5).status == 200, 60)
        wait_for("Prometheus to scrape the service", lambda: stack.has_data(f'up{{job="{JOB}"}} == 1'))
        broken = subprocess.run(
            [str(entry_point), "demo", "break", BROKEN, "--mode", "error", "--url", stack.service_url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert broken.returncode == 0, broken.stdout + broken.stderr
        wait_for(
            f"Prometheus to see {BROKEN} down",
            lambda: stack.has_data(f'channel_monitor_channel_state{{channel="{BROKEN}",state="down"}} == 1'),
        )
        wait_for(
            "the failover action to be applied and read back",
            lambda: stack.has_data(f'channel_monitor_failover_applied_amount{{channel="{BROKEN}"}} == 0'),
        )
        time.sleep(3)  # a few more scrapes, so that every rate() over the last seconds has two samples
        yield stack
    except BaseException:
        print(stack.tail())
        raise
    finally:
        stop(prometheus)
        stop(service)


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every query of the dashboard: panel targets (rows included) and variables."""
    dashboard = json.loads(DASHBOARD.read_text())
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((f"panel {panel.get('title')!r} target {target.get('refId')}", target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if variable.get("type") == "query" and query:
            found.append((f"variable {variable['name']!r}", query))
    return found


def substitute(expr: str) -> str:
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"{expr!r} uses a Grafana variable this test does not know"
    return expr


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule.get("alert") or rule.get("record"), rule["expr"]) for group in groups for rule in group["rules"]]


def selectors(expr: str) -> list[str]:
    """The vector selectors of an expression (metric name with its matchers), without range or function."""
    plain = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: "\0" * len(m.group()), expr)  # hide string contents
    found = []
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", plain):
        name = match.group(1)
        if name.startswith(("channel_monitor_", "probe_")) or name == "up":
            matchers = expr[match.start(2) : match.end(2)] if match.group(2) else ""
            found.append(name + matchers)
    return found


def test_the_expression_lists_are_complete():
    assert len(dashboard_expressions()) >= 20
    assert {name for name, _ in rule_expressions()} >= {"ChannelDown", "CertificateExpiringSoon", "ChannelMonitorStalled"}
    assert selectors('increase(channel_monitor_alerts_total{outcome="failed"}[10m]) > 0 and up{job="x"}') == [
        'channel_monitor_alerts_total{outcome="failed"}',
        'up{job="x"}',
    ]


def test_every_dashboard_expression_parses_and_returns_data(stack: Stack):
    problems = []
    for where, expr in dashboard_expressions():
        label_values = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr.strip())
        if label_values:  # Grafana's own function: the values of a label on the series a selector matches
            metric, label = substitute(label_values.group(1)), label_values.group(2)
            url = f"{stack.prometheus_url}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": metric})
            if not get_json(url)["data"]:
                problems.append(f"{where}: {expr} has no values")
            continue
        answer = stack.query(substitute(expr))
        if answer.get("status") != "success":
            problems.append(f"{where}: {expr}\n    does not evaluate: {answer.get('error')}")
        elif not returns_data(answer["data"]):
            problems.append(f"{where}: {expr}\n    returns no data")
        # An `or vector(0)` fallback returns data whatever the left side selects, so each series the
        # expression selects must exist on its own: a wrong label value or metric name fails here.
        problems += [
            f"{where}: {selector} selects nothing (in {expr})" for selector in selectors(substitute(expr)) if not stack.has_data(selector)
        ]
    assert not problems, "\n".join(problems)


def test_every_rule_is_loaded_and_evaluates_without_error(stack: Stack):
    expected = {name for name, _ in rule_expressions()}
    rules = wait_for(
        "every rule to be evaluated once",
        lambda: [
            rule
            for group in get_json(stack.prometheus_url + "/api/v1/rules")["data"]["groups"]
            for rule in group["rules"]
            if rule.get("lastEvaluation", "").startswith("2")
        ],
    )  # "0001-01-01..." until evaluated
    assert {rule["name"] for rule in rules} == expected
    assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []


def test_every_series_a_rule_selects_exists(stack: Stack):
    problems = [
        f"{name}: {selector} selects nothing (in {expr})"
        for name, expr in rule_expressions()
        for selector in selectors(expr)
        if not stack.has_data(selector)
    ]
    assert not problems, "\n".join(problems)


def test_the_broken_channel_makes_channel_down_pending_or_firing(stack: Stack):
    def channel_down() -> list[dict]:
        return [
            alert
            for alert in get_json(stack.prometheus_url + "/api/v1/alerts")["data"]["alerts"]
            if alert["labels"]["alertname"] == "ChannelDown"
        ]

    [alert] = wait_for("ChannelDown to be pending", channel_down)
    assert alert["labels"]["channel"] == BROKEN and alert["labels"]["severity"] == "critical"
    assert alert["state"] in ("pending", "firing")
    # Nothing else is wrong with the demo: no other alert is even pending.
    others = [
        a["labels"]["alertname"]
        for a in get_json(stack.prometheus_url + "/api/v1/alerts")["data"]["alerts"]
        if a["labels"]["alertname"] != "ChannelDown"
    ]
    assert others == []
