#!/usr/bin/env python3
"""Generate the Grafana dashboard `channel-monitor.json` with Grafana's foundation SDK.

    python dashboards/grafana/generate.py            # write channel-monitor.json next to this file
    python dashboards/grafana/generate.py --check    # exit 1 if the committed file is not what this produces
    python dashboards/grafana/generate.py --output -  # print it

The dashboard is code so that a change to it is reviewed as a diff of PromQL and titles, not of a Grafana
export; tests/test_dashboards.py keeps the committed JSON and this file in step and checks every metric and
label against monitor/metrics.py. Needs the `dashboards` extra (grafana-foundation-sdk for Grafana 11.6), which
is in requirements/test.txt: the README's test command installs it.

Rules every expression here follows (the tests and the Prometheus integration test rely on them):
- only the variables $channel, $__rate_interval, $__interval and $__range;
- every selector of a metric with a `channel` label filters with channel=~"$channel";
- it returns data from a service running the demo channels: counters that only appear after the first
  failure, alert or action fall back to 0 (`or vector(0)` after a plain aggregation, `or on() vector(0)`
  after a `by` one, since a labelled left side would otherwise never match the empty label set of vector(0)).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

try:
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common, units
    from grafana_foundation_sdk.models.dashboard import (
        DashboardCursorSync,
        DataSourceRef,
        DataTransformerConfig,
        DynamicConfigValue,
        FieldColorModeId,
        Threshold,
        ThresholdsMode,
        ValueMap,
        ValueMappingResult,
        VariableRefresh,
        VariableSort,
    )
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat, QueryEditorMode

    from monitor.metrics import DNS_RCODES as METRIC_RCODES
    from monitor.metrics import HTTP_PHASES as METRIC_PHASES
    from monitor.store.queries import UPTIME_WINDOWS as WINDOWS
except ImportError as exc:  # a clear hint beats a traceback for the one missing dependency
    sys.exit(f"{exc}: install the generator's dependency with the README's test command (requirements/test.txt)")

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "channel-monitor.json"
STALE = "channel-monitor.json is not what generate.py produces; run python dashboards/grafana/generate.py"

UID = "channel-monitor"
TITLE = "Channel monitor"
# Every panel and query goes through the `datasource` variable, so an import only asks for one data source.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
CHANNEL = 'channel=~"$channel"'
# The job name of the example scrape config (dashboards/prometheus/prometheus.yml) and the alert rules.
JOB = 'job="channel-monitor"'

# The state timeline needs a number per channel; channel_monitor_channel_state is one 0/1 series per state.
# unknown is 0 so it needs no term: the sum of code * (state is current) is the current state's code.
STATE_CODES = {"unknown": 0, "up": 1, "degraded": 2, "down": 3, "maintenance": 4}
STATE_LOOK = {
    "unknown": ("Unknown", "#8e8e8e"),
    "up": ("Up", "green"),
    "degraded": ("Degraded", "orange"),
    "down": ("Down", "red"),
    "maintenance": ("Maintenance", "blue"),
}
# The closed label values come from the service's own code, so the dashboard cannot drift from it.
HTTP_PHASES = METRIC_PHASES  # request order, so the stack reads bottom-up
UPTIME_WINDOWS = tuple(WINDOWS)
# Every DNS response code by name, plus -1 (no resolver answered); only NOERROR is good.
DNS_RCODES = {-1: ("no answer", "red"), **{code: (name, "green" if code == 0 else "red") for name, code in METRIC_RCODES.items()}}
# Days left on a certificate; the same 14 days as the CertificateExpiringSoon alert turn it orange.
CERT_WARNING_DAYS, CERT_CRITICAL_DAYS = 14, 7
NO_CERTIFICATE = -1  # what the certificate table shows when no check has seen a certificate

# monitor.metrics.ALERT_OUTCOMES and ACTION_OUTCOMES; the test checks every outcome has a colour.
OUTCOME_COLOURS = {"sent": "green", "applied": "green", "retry": "yellow", "failed": "orange", "conflict": "orange", "permanent": "red"}
# The result writer stores up to 5000 rows a flush (monitor/store/writer.py): a queue longer than one batch
# is falling behind.
WRITER_BATCH = 5000

GRID_WIDTH = 24


# --- small helpers around the SDK ------------------------------------------------------------------------------


def query(expr: str, legend: str = "", *, instant: bool = False, table_format: bool = False) -> prometheus.Dataquery:
    """A Prometheus query on the dashboard's data source (the ref id is set when it joins a panel)."""
    q = prometheus.Dataquery().expr(expr).datasource(DATASOURCE).editor_mode(QueryEditorMode.CODE)
    q = q.instant() if instant else q.range()
    if legend:
        q = q.legend_format(legend)
    if table_format:
        q = q.format(PromQueryFormat.TABLE)
    return q


def panel(builder, title: str, description: str, *queries: prometheus.Dataquery, width: int, height: int):
    """Title, description, data source, size and queries (ref ids A, B, ...) common to every panel."""
    builder = builder.title(title).description(description).datasource(DATASOURCE).span(width).height(height)
    for index, q in enumerate(queries):
        builder = builder.with_target(q.ref_id(chr(ord("A") + index)))
    return builder


def steps(base: str, *above: tuple[float, str]):
    """Absolute thresholds: `base` colour below the first value, then each (value, colour)."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color=base)] + [Threshold(value=v, color=c) for v, c in above])
    )


def mapping(values: dict[object, tuple[str, str]]) -> list[ValueMap]:
    """One value mapping: value -> (text, colour)."""
    return [
        ValueMap(
            options={
                str(value): ValueMappingResult(text=text, color=color, index=i) for i, (value, (text, color)) in enumerate(values.items())
            }
        )
    ]


def color_by_thresholds():
    return dashboard_builders.FieldColor().mode(FieldColorModeId.THRESHOLDS)


def legend_table(*calcs: str):
    """A table legend at the bottom with the given calculations (lastNotNull, max, ...)."""
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(list(calcs))
    )


def last_value():
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def organize(
    exclude: Iterable[str] = (), order: dict[str, int] | None = None, rename: dict[str, str] | None = None
) -> DataTransformerConfig:
    """Grafana's "Organize fields" transformation: hide, order and rename table columns."""
    return DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": {name: True for name in exclude}, "indexByName": order or {}, "renameByName": rename or {}},
    )


# Columns an instant table query brings that say nothing to a reader.
NOISE_COLUMNS = ("Time", "__name__", "job", "instance")


def stat_panel(
    title: str,
    description: str,
    expr: str,
    *,
    thresholds,
    unit: str = units.Short,
    mappings: list[ValueMap] | None = None,
    legend: str = "",
    width: int = 4,
    height: int = 4,
    more: tuple[prometheus.Dataquery, ...] = (),
):
    builder = panel(stat.Panel(), title, description, query(expr, legend), *more, width=width, height=height)
    builder = (
        builder.unit(unit)
        .thresholds(thresholds)
        .color_scheme(color_by_thresholds())
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(last_value())
    )
    return builder.mappings(mappings) if mappings else builder


def state_timeline(
    title: str,
    description: str,
    *queries: prometheus.Dataquery,
    mappings: list[ValueMap],
    thresholds=None,
    width: int = GRID_WIDTH,
    height: int = 8,
):
    builder = panel(statetimeline.Panel(), title, description, *queries, width=width, height=height)
    builder = (
        builder.mappings(mappings)
        .thresholds(thresholds or steps("green"))
        .color_scheme(color_by_thresholds())
        .show_value(common.VisibilityMode.AUTO)
        .merge_values(True)
        .fill_opacity(80)
        .row_height(0.8)
    )
    return builder


def time_series(
    title: str,
    description: str,
    *queries: prometheus.Dataquery,
    unit: str,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
    bars: bool = False,
):
    builder = panel(timeseries.Panel(), title, description, *queries, width=width, height=height)
    builder = builder.unit(unit).legend(legend_table("lastNotNull", "max")).fill_opacity(10).line_width(1)
    builder = builder.tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING))
    if stacked:
        builder = builder.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(60)
    if bars:
        builder = builder.draw_style(common.GraphDrawStyle.BARS).fill_opacity(80)
    return builder


def table_panel(title: str, description: str, *queries: prometheus.Dataquery, width: int, height: int = 8):
    return panel(table.Panel(), title, description, *queries, width=width, height=height)


def color_cells_of_type(field_type: str, cell_type: str) -> tuple[str, list[DynamicConfigValue]]:
    """Colour only the cells of one field type, so text columns (channel, check) keep the normal colour."""
    return field_type, [DynamicConfigValue(id_val="custom.cellOptions", value={"type": cell_type})]


# --- template variables ----------------------------------------------------------------------------------------


def datasource_variable():
    return dashboard_builders.DatasourceVariable("datasource").label("Data source").type("prometheus")


def channel_variable():
    # All is `.*` rather than Grafana's list of every value: shorter queries, and a channel added to the
    # config shows up before the variable is refreshed.
    return (
        dashboard_builders.QueryVariable("channel")
        .label("Channel")
        .datasource(DATASOURCE)
        .query("label_values(channel_monitor_channel_state, channel)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


# --- rows: one function each ---------------------------------------------------------------------------------


def channel_state_code_expr() -> str:
    terms = []
    for state, code in STATE_CODES.items():
        if code:
            selector = f'max by (channel) (channel_monitor_channel_state{{{CHANNEL}, state="{state}"}})'
            terms.append(selector if code == 1 else f"{code} * {selector}")
    return " + ".join(terms)


def count_in_state(state: str) -> str:
    return f'count(channel_monitor_channel_state{{{CHANNEL}, state="{state}"}} == 1) or vector(0)'


def status_overview_row(dash):
    """Expanded, unlike the other rows: the one row that answers "is anything broken right now?"."""
    dash = dash.with_row(dashboard_builders.Row("Channel status").collapsed(False))
    state_look = {code: STATE_LOOK[state] for state, code in STATE_CODES.items()}
    stats = [
        stat_panel(
            "Channels down",
            "Channels whose state is down right now. Anything above 0 is an outage a "
            "customer can see; the state timeline below shows since when.",
            count_in_state("down"),
            thresholds=steps("green", (1, "red")),
        ),
        stat_panel(
            "Channels degraded",
            "Channels whose state is degraded: a check fails at warning level, "
            "or fewer checks are down than it takes to call the channel down.",
            count_in_state("degraded"),
            thresholds=steps("green", (1, "orange")),
        ),
        stat_panel(
            "In maintenance",
            "Channels in a maintenance window: no down alerts and no failover for them until it ends.",
            count_in_state("maintenance"),
            thresholds=steps("green", (1, "blue")),
        ),
        stat_panel("Channels up", "Channels whose state is up.", count_in_state("up"), thresholds=steps("text")),
        stat_panel(
            "Failing checks",
            "Checks whose last probe failed (probe_success 0). A failing check on a channel that is still up is the early warning.",
            f"count(probe_success{{{CHANNEL}}} == 0) or vector(0)",
            thresholds=steps("green", (1, "orange")),
        ),
        stat_panel(
            "Open incidents",
            "Channels with an open incident (read from the database every minute).",
            f"count(channel_monitor_incident_open{{{CHANNEL}}} == 1) or vector(0)",
            thresholds=steps("green", (1, "red")),
        ),
        stat_panel(
            "Channels flapping",
            "Channels whose results keep changing (flap detection): one incident and "
            "one alert thread while it lasts, and failover holds still for them.",
            f"count(channel_monitor_channel_flapping{{{CHANNEL}}} == 1) or vector(0)",
            thresholds=steps("green", (1, "orange")),
        ),
    ]
    for s in stats:
        dash = dash.with_panel(s)
    dash = dash.with_panel(
        state_timeline(
            "Channel state",
            "Each channel's state over time, as the status page shows it. Look for red (down) and "
            "orange (degraded) bands, and for several channels changing together: a shared cause (a platform, "
            "DNS, or the monitor's own network).",
            query(channel_state_code_expr(), "{{channel}}"),
            mappings=mapping(state_look),
            width=16,
        )
    )
    current = table_panel(
        "Current state",
        "The state each channel is in now (the series of channel_monitor_channel_state that is 1).",
        query(f"channel_monitor_channel_state{{{CHANNEL}}} == 1", instant=True, table_format=True),
        width=8,
    )
    current = (
        current.with_transformation(organize(exclude=NOISE_COLUMNS + ("Value",)))
        .sort_by([common_builders.TableSortByFieldState().display_name("channel")])
        .override_by_name(
            "state",
            [
                DynamicConfigValue(id_val="mappings", value=mapping(STATE_LOOK)),
                DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
            ],
        )
    )
    dash = dash.with_panel(current)
    return dash.with_panel(
        state_timeline(
            "Check results",
            "The last result of each check (probe_success): green passed, red failed. A channel "
            "goes down or degraded from these; the failure reasons row says why a check failed.",
            query(f"min by (channel, check) (probe_success{{{CHANNEL}}})", "{{channel}} / {{check}}"),
            mappings=mapping({0: ("failed", "red"), 1: ("passed", "green")}),
        )
    )


def uptime_row():
    row = dashboard_builders.Row("Uptime")
    by_window = table_panel(
        "Uptime by window",
        "Share of results that found the channel available, as the status page counts "
        "it, over the last 24 h, 7 days, 30 days and 90 days (refreshed every minute; a window without "
        "results is empty). Below 99 % is orange, below 95 % red.",
        query(f"channel_monitor_uptime_ratio{{{CHANNEL}}}", instant=True, table_format=True),
        width=10,
    )
    by_window = (
        by_window.unit(units.PercentUnit)
        .decimals(2)
        .min(0)
        .max(1)
        .thresholds(steps("red", (0.95, "orange"), (0.99, "green")))
        .color_scheme(color_by_thresholds())
        # One row per channel, one column per window, in window order.
        .with_transformation(
            DataTransformerConfig(
                id_val="groupingToMatrix", options={"columnField": "window", "rowField": "channel", "valueField": "Value"}
            )
        )
        .with_transformation(
            organize(
                order={"channel\\window": 0, **{w: i + 1 for i, w in enumerate(UPTIME_WINDOWS)}}, rename={"channel\\window": "channel"}
            )
        )
        .override_by_field_type(*color_cells_of_type("number", "color-text"))
    )
    over_time = time_series(
        "Uptime over the last 24 hours",
        "The 24-hour uptime ratio as it moved: a step down marks an outage entering the window, a step up one leaving it 24 hours later.",
        query(f'channel_monitor_uptime_ratio{{{CHANNEL}, window="24h"}}', "{{channel}}"),
        unit=units.PercentUnit,
        width=14,
    )
    over_time = over_time.min(0).max(1).thresholds(steps("red", (0.95, "orange"), (0.99, "green")))
    return row.with_panel(by_window).with_panel(over_time)


def latency_row():
    row = dashboard_builders.Row("Latency by phase")
    # One query per phase rather than `by (phase)`, so the stack is always resolve, connect, processing,
    # transfer from the bottom. Repeated per selected channel: stacking several channels' phases would add up
    # unrelated requests.
    phases = [query(f'avg(probe_http_duration_seconds{{{CHANNEL}, phase="{phase}"}})', phase) for phase in HTTP_PHASES]
    per_channel = time_series(
        "HTTP phases: $channel",
        "Where the time of the channel's HTTP request goes (averaged over its HTTP "
        "checks): resolve = DNS lookup, connect = TCP connect and TLS handshake, processing = request sent to "
        "first byte (the platform's own slowness), transfer = first byte to end of body. A growing processing "
        "band is the platform; a growing resolve or connect band is the network or DNS.",
        *phases,
        unit=units.Seconds,
        width=GRID_WIDTH,
        stacked=True,
    )
    per_channel = per_channel.repeat("channel").repeat_direction("h").max_per_row(3)
    duration = time_series(
        "Probe duration",
        "How long each check's last probe took, every kind (DNS, HTTP, TLS, ...). A check close to its timeout is about to fail.",
        query(f"max by (channel, check) (probe_duration_seconds{{{CHANNEL}}})", "{{channel}} / {{check}}"),
        unit=units.Seconds,
        width=GRID_WIDTH,
    )
    return row.with_panel(per_channel).with_panel(duration)


def failure_reasons_row():
    row = dashboard_builders.Row("Failure reasons")
    by_reason = time_series(
        "Failures by reason",
        "Failed probes per second by error class (see README, Failure reasons): "
        "dns_servfail, connect_refused, tls_expired, http_status, ... One class on many channels at once "
        "points at a shared cause. A single unnamed 0 line: no probe has failed since the service started.",
        query(
            f"sum by (error_class) (rate(channel_monitor_probe_failures_total{{{CHANNEL}}}[$__rate_interval])) or on() vector(0)",
            "{{error_class}}",
        ),
        unit=units.CountsPerSecond,
        width=14,
        stacked=True,
        bars=True,
    )
    by_check = table_panel(
        "Failures in the time range",
        "Failed probes in the dashboard's time range by check and error class, largest first. A single row of 0: no failures.",
        query(
            "sum by (channel, check, error_class) (increase(channel_monitor_probe_failures_total"
            f"{{{CHANNEL}}}[$__range])) > 0 or on() vector(0)",
            instant=True,
            table_format=True,
        ),
        width=10,
    )
    by_check = (
        by_check.decimals(0)
        .with_transformation(organize(exclude=NOISE_COLUMNS))
        .sort_by([common_builders.TableSortByFieldState().display_name("Value").desc(True)])
    )
    return row.with_panel(by_reason).with_panel(by_check)


def certificates_and_dns_row():
    row = dashboard_builders.Row("Certificates and DNS")
    # Falls back to one row of -1 ("no certificate seen") so the panel says why it is empty instead of
    # "No data" when no TLS check or https URL is selected.
    expiry = table_panel(
        "Days until certificate expiry",
        f"Days left on the certificate each check last saw (tls checks, and "
        f"http checks of https URLs), soonest first. Orange under {CERT_WARNING_DAYS} days (the "
        f"CertificateExpiringSoon alert), red under {CERT_CRITICAL_DAYS} or expired.",
        query(
            f"(min by (channel, check) (probe_ssl_earliest_cert_expiry{{{CHANNEL}}}) - time()) / 86400 or on() vector({NO_CERTIFICATE})",
            instant=True,
            table_format=True,
        ),
        width=8,
    )
    expiry = (
        expiry.unit(units.Days)
        .decimals(1)
        .thresholds(steps("red", (CERT_CRITICAL_DAYS, "orange"), (CERT_WARNING_DAYS, "green")))
        .color_scheme(color_by_thresholds())
        .mappings(mapping({NO_CERTIFICATE: ("no certificate seen", "text")}))
        .with_transformation(organize(exclude=NOISE_COLUMNS, rename={"Value": "days left"}))
        .sort_by([common_builders.TableSortByFieldState().display_name("days left")])
        .override_by_field_type(*color_cells_of_type("number", "color-background"))
    )
    rcode = state_timeline(
        "DNS response code",
        "The response code of each DNS check's last lookup. NOERROR is green; SERVFAIL, "
        "NXDOMAIN or REFUSED mean the name does not resolve (as on 4 October 2021), 'no answer' that no "
        "resolver answered.",
        query(f"max by (channel, check) (probe_dns_rcode{{{CHANNEL}}})", "{{channel}} / {{check}}"),
        mappings=mapping(DNS_RCODES),
        width=16,
    )
    status = state_timeline(
        "HTTP status code",
        "The status of each HTTP check's last response: 2xx green, 3xx blue, 4xx orange, "
        "5xx red, 0 = no response at all (refused, timed out, TLS failed).",
        query(f"max by (channel, check) (probe_http_status_code{{{CHANNEL}}})", "{{channel}} / {{check}}"),
        mappings=mapping({0: ("no response", "red")}),
        thresholds=steps("red", (200, "green"), (300, "blue"), (400, "orange"), (500, "red")),
    )
    return row.with_panel(expiry).with_panel(rcode).with_panel(status)


def failover_row():
    row = dashboard_builders.Row("Failover allocation")

    def amounts(metric: str) -> str:
        return f'sum by (owner, channel) ({metric}{{kind="promotion", {CHANNEL}}})'

    planned = time_series(
        "Promotion amounts: planned and normal",
        "What failover planned for each promotion on each channel "
        "(solid) against the configured amount when every channel is healthy (dashed). Planned below normal: "
        "the channel's share was moved away; above: it received another channel's share. Minor currency "
        "units, or the weight for weighted promotions.",
        query(amounts("channel_monitor_failover_planned_amount"), "{{owner}} → {{channel}} planned"),
        query(amounts("channel_monitor_failover_normal_amount"), "{{owner}} → {{channel}} normal"),
        unit=units.Short,
    )
    planned = planned.override_by_query("B", [DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})])
    applied = time_series(
        "Promotion amounts confirmed by the channels",
        "What each channel last confirmed for a promotion "
        "(applied). It should follow the planned amount within a minute; a gap that stays means actions are "
        "failing (see Alert and action delivery). A single unnamed 0 line: no action has been "
        "acknowledged yet.",
        query(f"{amounts('channel_monitor_failover_applied_amount')} or on() vector(0)", "{{owner}} → {{channel}}"),
        unit=units.Short,
    )
    failed_over = state_timeline(
        "Failed-over channels",
        "Orange while a channel's promotions are moved away from it (held down until it has been healthy for the failback time).",
        query(f"max by (channel) (channel_monitor_failover_failed_over{{{CHANNEL}}})", "{{channel}}"),
        mappings=mapping({0: ("normal", "green"), 1: ("failed over", "orange")}),
        width=12,
    )
    notices = state_timeline(
        "Notices posted",
        "Customer notices failover planned to post on a channel (for example 'WhatsApp is down: write to us on Messenger').",
        query(f'max by (owner, channel) (channel_monitor_failover_planned_amount{{kind="notice", {CHANNEL}}})', "{{owner}} → {{channel}}"),
        mappings=mapping({0: ("not posted", "transparent"), 1: ("posted", "blue")}),
        width=12,
    )
    # Per promotion or notice, not per channel: these series have no channel label to filter on.
    held = state_timeline(
        "Frozen or waiting for approval",
        "Red while a promotion or notice is frozen (failover makes no moves "
        "for it until someone unfreezes it); orange while a plan waits for approval. Either one means the "
        "allocation above is not following the channels' health.",
        query("max by (kind, owner) (channel_monitor_failover_frozen)", "{{kind}} {{owner}}: frozen"),
        query("max by (kind, owner) (channel_monitor_failover_pending_approval)", "{{kind}} {{owner}}: waiting for approval"),
        mappings=mapping({0: ("no", "green")}),
        height=6,
    )
    held = held.override_by_query(
        "A", [DynamicConfigValue(id_val="mappings", value=mapping({0: ("running", "green"), 1: ("frozen", "red")}))]
    ).override_by_query(
        "B", [DynamicConfigValue(id_val="mappings", value=mapping({0: ("no", "green"), 1: ("waiting for approval", "orange")}))]
    )
    return row.with_panel(planned).with_panel(applied).with_panel(failed_over).with_panel(notices).with_panel(held)


def delivery_row():
    row = dashboard_builders.Row("Alert and action delivery")

    def colour_outcomes(builder):
        for outcome, colour in OUTCOME_COLOURS.items():
            # Grafana anchors a regexp given without slashes (^...$): this matches names ending in the outcome.
            builder = builder.override_by_regexp(
                f".* {outcome}", [DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})]
            )
        return builder

    failed_alerts = stat_panel(
        "Alert deliveries failed",
        "Alert deliveries that failed in the dashboard's time range (failed ones "
        "are retried; permanent ones are given up on). Alerts that do not arrive are the worst failure of a "
        "monitor.",
        'sum(increase(channel_monitor_alerts_total{outcome=~"failed|permanent"}[$__range])) or vector(0)',
        thresholds=steps("green", (1, "orange")),
        width=12,
    )
    failed_actions = stat_panel(
        "Failover actions not applied",
        "Failover action attempts in the time range that did not apply (retry, failed, conflict).",
        'sum(increase(channel_monitor_failover_actions_total{outcome!="applied"}[$__range])) or vector(0)',
        thresholds=steps("green", (1, "orange")),
        width=12,
    )
    alerts = colour_outcomes(
        time_series(
            "Alert deliveries",
            "Alert deliveries per second by notifier and outcome (sent, failed, permanent). "
            "A single unnamed 0 line: no notifier has any series yet.",
            query(
                "sum by (notifier, outcome) (rate(channel_monitor_alerts_total[$__rate_interval])) or on() vector(0)",
                "{{notifier}} {{outcome}}",
            ),
            unit=units.CountsPerSecond,
            bars=True,
        )
    )
    actions = colour_outcomes(
        time_series(
            "Failover actions",
            "Failover action attempts per second by actuator and outcome (applied, retry, "
            "failed, conflict). A single unnamed 0 line: no actuator is configured.",
            query(
                "sum by (actuator, outcome) (rate(channel_monitor_failover_actions_total[$__rate_interval])) or on() vector(0)",
                "{{actuator}} {{outcome}}",
            ),
            unit=units.CountsPerSecond,
            bars=True,
        )
    )
    return row.with_panel(failed_alerts).with_panel(failed_actions).with_panel(alerts).with_panel(actions)


def self_health_row():
    row = dashboard_builders.Row("Monitor self-health")
    up = stat_panel(
        "Scrape",
        "Whether Prometheus can scrape the monitor (job channel-monitor). Down: every other panel is "
        "stale and no channel is being watched.",
        f"up{{{JOB}}}",
        legend="{{instance}}",
        thresholds=steps("red", (1, "green")),
        mappings=mapping({0: ("DOWN", "red"), 1: ("UP", "green")}),
    )
    heartbeat = stat_panel(
        "Since the last probe",
        "Time since the last probe finished (heartbeat), and after how long without one "
        "the ChannelMonitorStalled alert fires: twice the shortest check interval plus a minute (scheduler "
        "stuck). The colours assume checks of a minute or less.",
        "time() - channel_monitor_last_cycle_timestamp_seconds",
        legend="{{instance}}",
        unit=units.Seconds,
        thresholds=steps("green", (60, "orange"), (120, "red")),
        more=(query("2 * channel_monitor_shortest_check_interval_seconds + 60", "alert after"),),
    )
    connectivity = stat_panel(
        "Own network",
        "LOST while the monitor's own network seems down: channel states are frozen rather than all marked down.",
        "channel_monitor_connectivity_lost",
        legend="{{instance}}",
        thresholds=steps("green", (1, "red")),
        mappings=mapping({0: ("OK", "green"), 1: ("LOST", "red")}),
    )
    queue = stat_panel(
        "Writer queue",
        "Results waiting to be written to the database. It should stay near 0; a queue that grows means the database is slow or failing.",
        "channel_monitor_writer_queue_depth",
        legend="{{instance}}",
        thresholds=steps("green", (WRITER_BATCH, "orange"), (WRITER_BATCH * 20, "red")),
    )
    dropped = stat_panel(
        "Results dropped",
        "Results shed because the database kept failing: history and uptime have gaps.",
        "channel_monitor_results_dropped",
        legend="{{instance}}",
        thresholds=steps("green", (1, "red")),
    )
    lag_p99 = "histogram_quantile(0.99, sum by (le) (rate(channel_monitor_scheduler_lag_seconds_bucket[$__rate_interval])))"
    lag_now = stat_panel(
        "Scheduler lag p99",
        "99th percentile of how late probes start after they are due; the service promises under 1 second.",
        lag_p99,
        unit=units.Seconds,
        thresholds=steps("green", (1, "red")),
    )
    lag = time_series(
        "Scheduler lag p99",
        "99th percentile of how late probes started after they were due. Above the "
        "1-second line the monitor is overloaded (too many checks for its CPU or event loop).",
        query(lag_p99, "p99"),
        unit=units.Seconds,
    )
    lag = lag.thresholds(steps("green", (1, "red"))).thresholds_style(
        common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
    )
    missed = time_series(
        "Missed runs",
        "Scheduled probes skipped because the previous run of the check was still going or "
        "started too late. A single unnamed 0 line: no check is scheduled.",
        query(
            f"sum by (channel, check) (rate(channel_monitor_scheduler_missed_runs_total{{{CHANNEL}}}[$__rate_interval])) or on() vector(0)",
            "{{channel}} / {{check}}",
        ),
        unit=units.CountsPerSecond,
    )
    probes = time_series(
        "Probes run",
        "Probes per second by kind. A drop without a config change means checks stopped running.",
        query(f"sum by (kind) (rate(channel_monitor_probes_total{{{CHANNEL}}}[$__rate_interval]))", "{{kind}}"),
        unit=units.CountsPerSecond,
        stacked=True,
    )
    written = time_series(
        "Results written",
        "Probe results stored in the database per second; it should match the probes run.",
        query("rate(channel_monitor_results_written_total[$__rate_interval])", "{{instance}}"),
        unit=units.CountsPerSecond,
    )
    for p in (up, heartbeat, connectivity, queue, dropped, lag_now, lag, missed, probes, written):
        row = row.with_panel(p)
    return row


ROWS = (uptime_row, latency_row, failure_reasons_row, certificates_and_dns_row, failover_row, delivery_row, self_health_row)


def build_dashboard():
    """The dashboard as the SDK's model, panel ids numbered in reading order."""
    dash = (
        dashboard_builders.Dashboard(TITLE)
        .uid(UID)
        .tags(["channel-monitor", "prometheus"])
        .description(
            "Sales channel outages, uptime, latency, failover and the monitor's own health, from "
            "channel-monitor's /metrics. Generated by dashboards/grafana/generate.py."
        )
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)  # shared crosshair: line up a state change with latency and failures below
        .annotations([])
        .with_variable(datasource_variable())
        .with_variable(channel_variable())
    )
    dash = status_overview_row(dash)
    for row in ROWS:
        dash = dash.with_row(row())
    model = dash.build()
    for number, p in enumerate(all_panels(model.panels), start=1):
        p.id_val = number
    return model


def all_panels(panels) -> Iterator:
    """Rows and panels, nested ones right after their row."""
    for p in panels or []:
        yield p
        yield from all_panels(getattr(p, "panels", None))


def render() -> str:
    """The dashboard JSON: keys sorted and a final newline, so the same code always gives the same bytes."""
    return json.dumps(build_dashboard(), cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", "-o", default=str(OUTPUT), help=f"where to write the JSON, - for stdout (default {OUTPUT.name} next to this script)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the output file differs from what this script produces"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if args.output == "-":
            parser.error("--check compares a file: give --output PATH or leave the default")
        path = Path(args.output)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(STALE, file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
