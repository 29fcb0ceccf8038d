"""The rows on failover: "Failover allocation" (what it planned, what the channels applied, what is held)
and "Alert and action delivery" (whether its actions and the alerts went through).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from .blocks import CHANNEL, OUTCOME_COLOURS, mapping, query, stat_panel, state_timeline, steps, time_series


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
    return row.with_panel(planned).with_panel(applied).with_panel(failed_over).with_panel(notices).with_panel(frozen_or_waiting())


def frozen_or_waiting():
    """What stops failover from following the channels' health: a frozen promotion or notice, a plan awaiting approval."""
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
    return held.override_by_query(
        "A", [DynamicConfigValue(id_val="mappings", value=mapping({0: ("running", "green"), 1: ("frozen", "red")}))]
    ).override_by_query(
        "B", [DynamicConfigValue(id_val="mappings", value=mapping({0: ("no", "green"), 1: ("waiting for approval", "orange")}))]
    )


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
