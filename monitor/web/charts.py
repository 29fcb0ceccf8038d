"""Pictures on the status pages: the 90-day uptime bars and the response-time chart (inline, escaped)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from monitor.web.read_model import DAY, HOUR, Day, LatencyPoint, floor_to
from monitor.web.views import fmt_day, fmt_hour, ms, pct, span

CHART_W, CHART_H = 640, 220  # the response-time chart's viewBox
PAD_L, PAD_R, PAD_T, PAD_B = 88, 14, 14, 34  # room for the axis labels
DAY_WORDS = {"up": "all up", "degraded": "degraded", "down": "down", "maintenance": "maintenance only", "none": "no data"}
SEVERITY = {"none": 0, "maintenance": 0, "up": 1, "degraded": 2, "down": 3}  # a day's colour, by how bad
NOW_COLOURS = ("degraded", "down")  # states that colour today whatever its stored results say


def history_view(history: Mapping[str, list[Day]], now: float, days: int) -> dict[str, Any]:
    """Every channel's daily history and its bar as markup, drawn once per cache refresh (pages paste them).

    Each bar is a row of spans, one per day, coloured by the day's worst state; the title of each (a
    tooltip) and the bar's aria-label hold only dates and our own figures. The spans of days without
    trouble or without data, the most common, are drawn once per date for all channels.
    """
    today = floor_to(now, DAY)
    first = today - (days - 1) * DAY
    blank = [Day(d, span=max(0.0, now - today) if d == today else DAY) for d in range(first, today + DAY, DAY)]
    dates = [fmt_day(d.start) for d in blank]
    plain = {
        "up": [f'<i class="d-up" title="{d}: 100% up"></i>' for d in dates],
        "none": [f'<i class="d-none" title="{d}: no data"></i>' for d in dates],
    }
    return {
        "days": history,
        "bars": {channel: _bar(ds, dates, plain) for channel, ds in history.items()},
        "empty": _bar(blank, dates, plain),
        "blank": blank,
        "dates": dates,
        "plain": plain,
    }


def bar_now(history: dict[str, Any], channel: str, state: str) -> Markup:
    """A channel's bar with today at least as bad as the channel is now.

    The figures count stored results; a channel forced down by hand, or down when a maintenance window
    ends, has none in its new state yet, and its today must not stay green beside "Down".
    """
    bar = history["bars"].get(channel, history["empty"])
    if state not in NOW_COLOURS:
        return bar
    days = history["days"].get(channel, history["blank"])
    if SEVERITY[days[-1].worst] >= SEVERITY[state]:
        return bar
    return _bar(days, history["dates"], history["plain"], now=state)


def _bar(days: list[Day], dates: list[str], plain: dict[str, list[str]], now: str | None = None) -> Markup:
    spans = []
    tally = dict.fromkeys(DAY_WORDS, 0)
    for i, day in enumerate(days):
        if now is not None and i == len(days) - 1:  # today, worse now than its stored results say
            tally[now] += 1
            figures = day_figures(day)
            spans.append(
                f'<i class="d-{now}" title="{dates[i]}: {escape(now)} now{"" if day.results == 0 else "; so far " + escape(figures)}"></i>'
            )
            continue
        _, up, degraded, down, maintenance, unknown, _ = day
        if not (degraded or down or maintenance):
            worst = "up" if up else "none"
            if not unknown or up:
                tally[worst] += 1
                spans.append(plain[worst][i])
                continue
        worst = day.worst
        tally[worst] += 1
        spans.append(_day_span(day, dates[i]))
    parts = [f"{n} {'day' if n == 1 else 'days'} {DAY_WORDS[w]}" for w, n in tally.items() if n]
    label = escape(f"Daily history, last {len(days)} days, oldest first: " + ", ".join(parts))
    return Markup(f'<div class="days" role="img" aria-label="{label}">{"".join(spans)}</div>')


@functools.lru_cache(maxsize=50_000)  # past days do not change: the next refresh finds them here
def _day_span(day: Day, date: str) -> str:
    return f'<i class="d-{day.worst}" title="{date}: {escape(day_figures(day))}"></i>'


def day_figures(day: Day) -> str:
    """'99.31% up, 10m down' for a day's tooltip."""
    if day.results == 0:
        return "no data"
    if day.uptime is None:
        return "maintenance only" if day.n_maintenance else "no state known"
    words = [f"{pct(day.uptime)} up"]
    for count, what in ((day.n_down, "down"), (day.n_degraded, "degraded"), (day.n_maintenance, "maintenance")):
        if count:
            words.append(f"{span(day.seconds_in(count))} {what}")
    return ", ".join(words)


def latency_chart(check: str, points: list[LatencyPoint], lo: int, now: float) -> dict[str, Any]:
    """The geometry of one check's response-time chart (the template draws it): 25 hourly slots from lo.

    Each point is placed in the middle of its hour; lines break where an hour has no successful result.
    """
    hours = int((floor_to(now, HOUR) - lo) // HOUR) + 1
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    top = _nice_ceiling(max((p.p95 for p in points), default=0.0) * 1000) or 1.0  # milliseconds

    def x(hour: int) -> float:
        return round(PAD_L + (hour - lo + HOUR / 2) / (hours * HOUR) * plot_w, 1)

    def y(seconds: float) -> float:
        return round(PAD_T + plot_h - min(seconds * 1000 / top, 1.0) * plot_h, 1)

    runs: list[list[LatencyPoint]] = []  # consecutive hours
    for p in points:
        if runs and p.hour == runs[-1][-1].hour + HOUR:
            runs[-1].append(p)
        else:
            runs.append([p])
    lines = {name: [" ".join(f"{x(q.hour)},{y(getattr(q, name))}" for q in run) for run in runs] for name in ("avg", "p95")}
    dots = [
        {
            "x": x(p.hour),
            "avg": y(p.avg),
            "p95": y(p.p95),
            "hour": p.hour,
            "title": f"{fmt_hour(p.hour)}: average {ms(p.avg)}, p95 {ms(p.p95)}, slowest {ms(p.max)} ({p.count} successful)",
        }
        for p in points
    ]
    yticks = [{"y": round(PAD_T + plot_h - f * plot_h, 1), "label": _tick_ms(top * f)} for f in (0, 0.5, 1)]
    xticks = [
        {"x": x(h) - round(plot_w / hours / 2, 1), "label": time.strftime("%H:%M", time.gmtime(h))}
        for h in range(lo, lo + hours * HOUR, HOUR)
        if (h // HOUR) % 6 == 0
    ]
    return {
        "id": f"chart-{check}",
        "w": CHART_W,
        "h": CHART_H,
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "top": PAD_T,
        "bottom": CHART_H - PAD_B,
        "lines": lines,
        "dots": dots,
        "yticks": yticks,
        "xticks": xticks,
        "summary": _latency_summary(points, hours),
        "points": points,
        "title": f"Response time of {check}, last 24 hours (UTC)",
    }


def _latency_summary(points: list[LatencyPoint], hours: int) -> str:
    """The chart in one sentence (screen readers, and people who would rather read)."""
    if not points:
        return "No successful results in the last 24 hours."
    slowest = max(points, key=lambda p: p.p95)
    mean = sum(p.avg * p.count for p in points) / sum(p.count for p in points)
    return (
        f"{len(points)} of {hours} hours with successful results; average {ms(mean)}; "
        f"slowest hour by p95 {fmt_hour(slowest.hour)} at {ms(slowest.p95)}; "
        f"latest hour {fmt_hour(points[-1].hour)}: average {ms(points[-1].avg)}, p95 {ms(points[-1].p95)}."
    )


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above value (0 for 0)."""
    if value <= 0:
        return 0.0
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value * (1 - 1e-9))


def _tick_ms(millis: float) -> str:
    """An axis label: '0 ms', '2.5 ms', '500 ms', '1.5 s'."""
    if millis >= 1000:
        return f"{millis / 1000:g} s"
    return f"{millis:g} ms"
