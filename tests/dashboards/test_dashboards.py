"""The Grafana dashboard: generated from code, over metrics and labels the service really exports, every
query through the `datasource` and `channel` variables; the provisioning files point at it.

The PromQL checks read expressions with a small tokenizer, not a full parser: enough for selectors, label
matchers and `by (...)` / `on (...)` label lists. The promtool test parses every expression for real (it
needs Debian's prometheus package: skipped on a developer's machine without it, a failure under CI=true).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache

import yaml
from prometheus_client import CollectorRegistry

from monitor.core.history import UPTIME_WINDOWS
from monitor.health import State
from monitor.metrics import ACTION_OUTCOMES, ALERT_OUTCOMES, DNS_RCODES, HTTP_PHASES, Metrics
from probes import ERROR_CLASSES
from tests.support import ROOT

GRAFANA = ROOT / "dashboards" / "grafana"
GENERATE = GRAFANA / "generate.py"
DASHBOARD = GRAFANA / "channel-monitor.json"
PROVIDER = GRAFANA / "provisioning" / "dashboards" / "channel-monitor.yaml"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
README = ROOT / "dashboards" / "README.md"
SUBPROCESS_TIMEOUT = 120  # seconds; generating takes well under one

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
# The only Grafana variables an expression may use: the Prometheus integration test substitutes exactly these.
GRAFANA_VARIABLES = {"channel", "__rate_interval", "__interval", "__range"}
SUBSTITUTIONS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h", "$channel": ".*"}
# Issue 8: the rows the dashboard must have, in this order.
REQUIRED_ROWS = [
    "Channel status",
    "Uptime",
    "Latency by phase",
    "Failure reasons",
    "Certificates and DNS",
    "Failover allocation",
    "Alert and action delivery",
    "Monitor self-health",
]
# Series a dashboard does not need to show: a histogram's sum and count (the buckets give the quantiles).
NOT_SHOWN = {
    "channel_monitor_scheduler_lag_seconds_sum",
    "channel_monitor_scheduler_lag_seconds_count",
    "channel_monitor_decision_lag_seconds_sum",  # the histogram's quantile is shown, as for the scheduler lag
    "channel_monitor_decision_lag_seconds_count",
}
# Label values that come from closed sets in the code, so a typo in the dashboard would match nothing.
CLOSED_LABEL_VALUES = {
    "state": {s.value for s in State},
    "window": set(UPTIME_WINDOWS),
    "phase": set(HTTP_PHASES),
    "error_class": set(ERROR_CLASSES),
}
CLOSED_METRIC_LABEL_VALUES = {
    ("channel_monitor_alerts_total", "outcome"): set(ALERT_OUTCOMES),
    ("channel_monitor_failover_actions_total", "outcome"): set(ACTION_OUTCOMES),
}


# --- the generator and its output --------------------------------------------------------------------------


@cache
def generator():
    """dashboards/grafana/generate.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("channel_monitor_dashboard_generator", GENERATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def walk(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from walk(panel.get("panels", []))


def panels() -> list[dict]:
    """Every panel but rows, nested ones included."""
    found = [p for p in walk(dashboard()["panels"]) if p["type"] != "row"]
    assert found, "the dashboard has panels"
    return found


def targets() -> list[dict]:
    found = [t for p in panels() for t in p.get("targets", [])]
    assert found, "the dashboard has queries"
    return found


def exprs() -> list[str]:
    return [t["expr"] for t in targets()]


def run_generate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATE), *args], cwd=ROOT, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)


# --- what the service exports ----------------------------------------------------------------------------


@cache
def exported() -> dict[str, frozenset[str]]:
    """Every series name /metrics can show, with its labels (target labels included), plus Prometheus' `up`."""
    metrics = Metrics(CollectorRegistry())
    names: dict[str, set[str]] = {f.name: set(f.label_names) for f in metrics.families}
    for value in vars(metrics).values():
        kind, name = getattr(value, "_type", None), getattr(value, "_name", None)
        if kind is None or name is None:
            continue
        labels = set(value._labelnames)
        if kind == "counter":
            names[f"{name}_total"] = labels
        elif kind == "histogram":
            names |= {f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels, f"{name}_count": labels}
        else:
            names[name] = labels
    names["up"] = set()
    return {name: frozenset(labels | TARGET_LABELS) for name, labels in names.items()}


def labels_of(name: str, expr: str) -> frozenset[str]:
    assert name in exported(), f"{name} is not a metric the service exports: {expr}"
    return exported()[name]


# --- a small PromQL reader -----------------------------------------------------------------------------------

TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<range>\[[^\]]*\])
  | (?P<matchers>\{[^}]*\})
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>(),=])
)""",
    re.VERBOSE,
)
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
# Aggregation operators: `sum by (...) (...)` puts a label list, not a parenthesis, after the name.
AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)
    position: int  # token index


@dataclass(frozen=True)
class LabelList:
    keyword: str
    labels: tuple[str, ...]
    scope: tuple[Selector, ...]  # the selectors the labels must exist on


def tokens(expr: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(expr.rstrip()):
        match = TOKEN.match(expr, at)
        assert match and match.end() > at, f"cannot read {expr[at:]!r} in {expr!r}"
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def parse_matchers(block: str, expr: str) -> tuple[tuple[str, str, str], ...]:
    body, found, at = block[1:-1].strip(), [], 0
    while at < len(body):
        match = MATCHER.match(body, at)
        assert match, f"cannot read the matchers {block!r} in {expr!r}"
        found.append(match.groups())
        at = match.end()
    return tuple(found)


def closing(toks: list[tuple[str, str]], opening: int) -> int:
    depth = 0
    for i in range(opening, len(toks)):
        depth += {"(": 1, ")": -1}.get(toks[i][1], 0) if toks[i][0] == "op" else 0
        if depth == 0:
            return i
    raise AssertionError("unbalanced parentheses")


def read(expr: str) -> tuple[list[Selector], list[LabelList]]:
    """The metric selectors of an expression and its label lists, each with the selectors it applies to."""
    toks = tokens(expr)
    selectors: list[Selector] = []
    lists: list[tuple[str, tuple[str, ...], int]] = []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "matchers":
            raise AssertionError(f"a selector without a metric name in {expr!r}")
        if kind == "ident" and text in LABEL_LISTS and following == ("op", "("):
            end = closing(toks, i + 1)
            labels = tuple(t for k, t in toks[i + 2 : end] if k == "ident")
            lists.append((text, labels, end))
            i = end + 1
            continue
        if kind == "ident" and text not in KEYWORDS | AGGREGATIONS and following != ("op", "("):
            matchers = parse_matchers(following[1], expr) if following[0] == "matchers" else ()
            selectors.append(Selector(text, matchers, i))
            i += 2 if matchers or following[0] == "matchers" else 1
            continue
        i += 1
    result = []
    for keyword, labels, end in lists:
        if keyword in {"by", "without"}:
            # `sum by (a) (expr)`: the aggregated expression follows the list (the form the dashboard uses).
            assert end + 1 < len(toks) and toks[end + 1] == ("op", "("), (
                f"write `{keyword} (...)` before the aggregated expression in {expr!r}"
            )
            last = closing(toks, end + 1)
            scope = tuple(s for s in selectors if end + 1 < s.position < last)
        else:  # on/ignoring/group_*: checked against every selector of the expression
            scope = tuple(selectors)
        result.append(LabelList(keyword, labels, scope))
    return selectors, result


# --- the committed JSON is the generator's output -----------------------------------------------------------


def test_committed_json_is_what_generate_py_produces():
    produced = generator().render()
    assert json.loads(produced)["uid"] == "channel-monitor"
    assert DASHBOARD.read_text(encoding="utf-8") == produced, (
        "channel-monitor.json differs from generate.py's output: run python dashboards/grafana/generate.py"
    )


def test_generate_is_deterministic():
    assert generator().render() == generator().render()


def test_check_passes_on_the_committed_file_and_fails_on_a_hand_edit(tmp_path):
    done = run_generate("--check")
    assert done.returncode == 0, done.stderr

    edited = tmp_path / "channel-monitor.json"
    edited.write_text(DASHBOARD.read_text(encoding="utf-8").replace('"Channel monitor"', '"Edited by hand"', 1))
    done = run_generate("--check", "--output", str(edited))
    assert done.returncode == 1
    assert "channel-monitor.json is not what generate.py produces; run python dashboards/grafana/generate.py" in done.stderr


def test_output_to_stdout_and_to_a_path(tmp_path):
    done = run_generate("--output", "-")
    assert done.returncode == 0, done.stderr
    assert done.stdout == DASHBOARD.read_text(encoding="utf-8")

    written = tmp_path / "out.json"
    assert run_generate("--output", str(written)).returncode == 0
    assert written.read_text(encoding="utf-8") == done.stdout


# --- dashboard settings -----------------------------------------------------------------------------------


def test_identity_refresh_and_time_range():
    board = dashboard()
    assert board["uid"] == "channel-monitor"
    assert board["title"] == "Channel monitor"
    assert "channel-monitor" in board["tags"]
    assert board["refresh"] == "30s"
    assert board["time"] == {"from": "now-6h", "to": "now"}


def test_variables_are_exactly_datasource_and_channel():
    variables = dashboard()["templating"]["list"]
    assert [v["name"] for v in variables] == ["datasource", "channel"]
    datasource, channel = variables
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    assert channel["type"] == "query"
    assert channel["query"] == "label_values(channel_monitor_channel_state, channel)"
    assert channel["datasource"] == DATASOURCE
    assert channel["multi"] is True and channel["includeAll"] is True and channel["allValue"] == ".*"


def test_channel_variable_reads_an_exported_label():
    query = dashboard()["templating"]["list"][1]["query"]
    metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", query).groups()
    assert label in exported()[metric]


def test_rows_are_the_required_ones():
    rows = [p["title"] for p in walk(dashboard()["panels"]) if p["type"] == "row"]
    assert rows == REQUIRED_ROWS


def test_every_row_but_the_first_holds_its_panels():
    """Collapsed rows keep their panels inside (Grafana drops them otherwise); the overview row is open."""
    rows = [p for p in dashboard()["panels"] if p["type"] == "row"]
    assert not rows[0]["collapsed"] and not rows[0]["panels"]
    assert all(row["collapsed"] and row["panels"] for row in rows[1:])


def test_panel_ids_are_unique_and_every_panel_explains_itself():
    everything = list(walk(dashboard()["panels"]))
    assert len({p["id"] for p in everything}) == len(everything)
    assert all(p.get("description", "").strip() for p in panels())


def test_every_panel_and_query_uses_the_datasource_variable():
    assert all(p["datasource"] == DATASOURCE for p in panels())
    assert all(t["datasource"] == DATASOURCE for t in targets())


def test_every_query_has_its_own_ref_id():
    for p in panels():
        ref_ids = [t["refId"] for t in p["targets"]]
        assert ref_ids and all(ref_ids) and len(set(ref_ids)) == len(ref_ids), p["title"]


# --- the expressions -----------------------------------------------------------------------------------------


def test_expressions_use_only_the_grafana_variables_the_integration_test_substitutes():
    used = {name for expr in exprs() for name in re.findall(r"\$\{?(\w+)", expr)}
    assert "channel" in used
    assert used <= GRAFANA_VARIABLES


def test_every_metric_is_one_the_service_exports():
    names = exported()
    used = {s.name for expr in exprs() for s in read(expr)[0]}
    assert {"probe_success", "channel_monitor_channel_state", "up"} <= used
    assert used - set(names) == set()


def test_every_exported_metric_is_on_the_dashboard():
    """A new metric gets a panel (or a place in NOT_SHOWN, with the reason)."""
    used = {s.name for expr in exprs() for s in read(expr)[0]}
    missing = set(exported()) - used - NOT_SHOWN - {"up"}
    assert used and missing == set(), f"add these to dashboards/grafana/generate.py: {sorted(missing)}"


def test_every_matcher_label_exists_on_its_metric():
    checked = 0
    for expr in exprs():
        for selector in read(expr)[0]:
            for label, _op, _value in selector.matchers:
                assert label in labels_of(selector.name, expr), f"{selector.name} has no label {label!r}: {expr}"
                checked += 1
    assert checked


def test_every_grouping_label_exists_on_the_metrics_it_groups():
    checked = 0
    for expr in exprs():
        for label_list in read(expr)[1]:
            for selector in label_list.scope:
                unknown = set(label_list.labels) - labels_of(selector.name, expr)
                assert not unknown, f"{label_list.keyword} {sorted(unknown)}: not labels of {selector.name}: {expr}"
                checked += 1
    assert checked


def test_label_values_from_closed_sets_exist():
    """`state="down"`, `outcome=~"failed|permanent"`: each value is one the code can produce."""
    checked = 0
    for expr in exprs():
        for selector in read(expr)[0]:
            for label, op, value in selector.matchers:
                known = CLOSED_METRIC_LABEL_VALUES.get((selector.name, label), CLOSED_LABEL_VALUES.get(label))
                if known is None:
                    continue
                if op in {"=~", "!~"}:
                    if not re.fullmatch(r"\w+(\|\w+)*", value):
                        continue  # a real regular expression ($channel is not a closed set)
                    values = value.split("|")
                else:
                    values = [value]
                assert set(values) <= known, f"{label} {op} {value!r}: not in {sorted(known)}: {expr}"
                checked += 1
    assert checked


def test_every_per_channel_selector_filters_on_the_channel_variable():
    per_channel = 0
    for expr in exprs():
        for selector in read(expr)[0]:
            if "channel" in labels_of(selector.name, expr):
                assert ("channel", "=~", "$channel") in selector.matchers, f"{selector.name} without $channel: {expr}"
                per_channel += 1
    assert per_channel


def test_expressions_that_may_be_empty_fall_back_to_zero():
    """Counters that appear only after the first failure, alert or action, and the applied amounts, must
    not leave a panel empty; `on()` is needed after a `by` aggregation or vector(0) would always be added."""
    rare = (
        "channel_monitor_probe_failures_total",
        "channel_monitor_alerts_total",
        "channel_monitor_failover_actions_total",
        "channel_monitor_scheduler_missed_runs_total",
        "channel_monitor_failover_applied_amount",
        "probe_ssl_earliest_cert_expiry",
    )
    checked = 0
    for expr in exprs():
        if any(name in expr for name in rare):
            fallback = re.search(r"\bor (on\s*\(\s*\) )?vector\(-?\d+\)$", expr)
            assert fallback, f"no fallback: {expr}"
            has_by = re.search(r"\b(by|without)\s*\(", expr)
            assert bool(fallback.group(1)) == bool(has_by), f"`or on() vector` after a by-aggregation only: {expr}"
            checked += 1
    assert checked >= len(rare)


def test_value_mappings_follow_the_code():
    gen = generator()
    assert set(gen.STATE_CODES) == {s.value for s in State}
    assert len(set(gen.STATE_CODES.values())) == len(State)
    assert gen.HTTP_PHASES == HTTP_PHASES
    assert gen.UPTIME_WINDOWS == tuple(UPTIME_WINDOWS)
    assert {code: text for code, (text, _colour) in gen.DNS_RCODES.items() if code >= 0} == {
        code: name for name, code in DNS_RCODES.items()
    }
    assert set(gen.OUTCOME_COLOURS) == set(ALERT_OUTCOMES) | set(ACTION_OUTCOMES)


def test_every_expression_is_valid_promql(promtool, tmp_path):
    """Each expression, variables substituted as Grafana would, as a recording rule for promtool to parse."""
    rules = []
    for n, expr in enumerate(exprs()):
        for variable, value in SUBSTITUTIONS.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:expression_{n}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rules)} rules found" in done.stdout + done.stderr


# --- provisioning ------------------------------------------------------------------------------------------


def test_dashboard_provider_points_at_the_mounted_folder():
    config = yaml.safe_load(PROVIDER.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert path == "/var/lib/grafana/dashboards/channel-monitor"
    assert path in README.read_text(encoding="utf-8"), "the README tells where to put channel-monitor.json"


def test_datasource_example_is_a_prometheus_with_uid_prometheus():
    config = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    [source] = config["datasources"]
    assert (source["type"], source["uid"], source["url"]) == ("prometheus", "prometheus", "http://prometheus:9090")
    assert source["access"] == "proxy"
