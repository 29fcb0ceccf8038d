"""The "Monitor self-health" row: whether the monitor itself is scraped, probing on time and storing results."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import common, units

from .blocks import CHANNEL, JOB, WRITER_BATCH, mapping, query, stat_panel, steps, time_series

# Both the stat (now) and the graph (over time) show it, so they cannot disagree.
LAG_P99 = "histogram_quantile(0.99, sum by (le) (rate(channel_monitor_scheduler_lag_seconds_bucket[$__rate_interval])))"


def self_health_row():
    row = dashboard_builders.Row("Monitor self-health")
    for p in (*self_health_stats(), *self_health_graphs()):
        row = row.with_panel(p)
    return row


def self_health_stats() -> tuple:
    """The values at a glance: scrape, heartbeat, own network, writer queue, dropped results, scheduler lag."""
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
    overloaded = stat_panel(
        "Load",
        "OVERLOADED while the monitor cannot start its checks on time (runs skipped: see Skipped runs): failed "
        "results do not count and failover moves nothing, rather than healthy channels being marked down.",
        "channel_monitor_overloaded",
        legend="{{instance}}",
        thresholds=steps("green", (1, "red")),
        mappings=mapping({0: ("OK", "green"), 1: ("OVERLOADED", "red")}),
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
    lag_now = stat_panel(
        "Scheduler lag p99",
        "99th percentile of how late probes start after they are due; the service promises under 1 second.",
        LAG_P99,
        unit=units.Seconds,
        thresholds=steps("green", (1, "red")),
    )
    return up, heartbeat, connectivity, overloaded, queue, dropped, lag_now


def self_health_graphs() -> tuple:
    """The same health over time: scheduler lag, missed runs, probes run and results written."""
    lag = time_series(
        "Scheduler lag p99",
        "99th percentile of how late probes started after they were due. Above the "
        "1-second line the monitor is overloaded (too many checks for its CPU or event loop).",
        query(LAG_P99, "p99"),
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
    skipped = time_series(
        "Skipped runs",
        "Runs the monitor did not start, by why: late (its event loop was busy), busy (the check's previous run "
        "still going), capacity (probing.max_in_flight reached), stalled (a probe timed out while the loop "
        "stalled: dropped, not counted against the channel). A steady rate means more checks than the machine runs.",
        query(
            "sum by (why) (rate(channel_monitor_scheduler_skipped_runs_total[$__rate_interval])) or on() vector(0)",
            "{{why}}",
        ),
        unit=units.CountsPerSecond,
        stacked=True,
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
        "Probe results stored in the database per second; it should match the probes run. With several locations, "
        "also the results the decider read (all locations' together).",
        query("rate(channel_monitor_results_written_total[$__rate_interval])", "{{instance}}"),
        query("rate(channel_monitor_decider_results_read_total[$__rate_interval])", "decider read"),
        unit=units.CountsPerSecond,
    )
    deciding = time_series(
        "Decision lag p99",
        "With probers in several locations (--role decide): the 99th percentile of how old a result is when the "
        "decider counts it (its probe, the prober's write, the decider's read). Empty for a single process. "
        "Several seconds means results reach the decider late.",
        query(
            "histogram_quantile(0.99, sum by (le) (rate(channel_monitor_decision_lag_seconds_bucket[$__rate_interval])))",
            "p99",
        ),
        unit=units.Seconds,
    )
    return lag, missed, skipped, probes, written, deciding
