"""The rows on what state the channels are in: "Channel status" (now, and over time) and "Uptime"."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig, DynamicConfigValue

from .blocks import (
    CHANNEL,
    NOISE_COLUMNS,
    STATE_CODES,
    STATE_LOOK,
    UPTIME_WINDOWS,
    color_by_thresholds,
    color_cells_of_type,
    mapping,
    organize,
    query,
    stat_panel,
    state_timeline,
    steps,
    table_panel,
    time_series,
)


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
    for p in (*status_stats(), channel_state(), current_state(), check_results()):
        dash = dash.with_panel(p)
    return dash


def status_stats() -> list:
    """The counts across the top: how many channels are in each state, failing checks, incidents, flapping."""
    return [
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


def channel_state():
    """The state timeline: since when a channel is in its state, and which ones changed together."""
    state_look = {code: STATE_LOOK[state] for state, code in STATE_CODES.items()}
    return state_timeline(
        "Channel state",
        "Each channel's state over time, as the status page shows it. Look for red (down) and "
        "orange (degraded) bands, and for several channels changing together: a shared cause (a platform, "
        "DNS, or the monitor's own network).",
        query(channel_state_code_expr(), "{{channel}}"),
        mappings=mapping(state_look),
        width=16,
    )


def current_state():
    """The state table next to the timeline: each channel's state now, in colour."""
    current = table_panel(
        "Current state",
        "The state each channel is in now (the series of channel_monitor_channel_state that is 1).",
        query(f"channel_monitor_channel_state{{{CHANNEL}}} == 1", instant=True, table_format=True),
        width=8,
    )
    return (
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


def check_results():
    """The checks behind the states, one line each."""
    return state_timeline(
        "Check results",
        "The last result of each check (probe_success): green passed, red failed. A channel "
        "goes down or degraded from these; the failure reasons row says why a check failed.",
        query(f"min by (channel, check) (probe_success{{{CHANNEL}}})", "{{channel}} / {{check}}"),
        mappings=mapping({0: ("failed", "red"), 1: ("passed", "green")}),
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
