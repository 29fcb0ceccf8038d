"""The rows on what the checks measure: "Latency by phase", "Failure reasons" and "Certificates and DNS"."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import units

from .blocks import (
    CERT_CRITICAL_DAYS,
    CERT_WARNING_DAYS,
    CHANNEL,
    DNS_RCODES,
    GRID_WIDTH,
    HTTP_PHASES,
    NO_CERTIFICATE,
    NOISE_COLUMNS,
    color_by_thresholds,
    color_cells_of_type,
    mapping,
    organize,
    query,
    state_timeline,
    steps,
    table_panel,
    time_series,
)


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
