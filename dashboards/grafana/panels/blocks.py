"""Building blocks of the dashboard: the constants the rows share, small helpers around Grafana's
foundation SDK (queries, panels, thresholds, value mappings) and the template variables.
"""

from __future__ import annotations

from collections.abc import Iterable

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common, units
from grafana_foundation_sdk.models.dashboard import (
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
