"""What alerts say, in plain words: titles of grouped messages and one line per alert. Pure.

The sentences are Jinja2 templates in alerts/templates/wording.yaml; this module picks the template
and fills in the values. Notifiers escape the result for their medium (Slack mrkdwn, HTML e-mail).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import jinja2
import yaml

from alerts.base import Alert, current, human_duration
from alerts.events import FAILOVER_EVENTS
from probes import ERROR_CLASSES

TEMPLATES = Path(__file__).parent / "templates" / "wording.yaml"
# Plain-words prefixes for an error class (the error text itself says the rest).
_KIND_WORDS = {"dns": "DNS", "connect": "Connection", "tls": "TLS", "http": "HTTP", "vendor": "Vendor status"}


class Wording:
    """The templates, loaded once; render titles and lines for alerts."""

    def __init__(self, path: Path = TEMPLATES) -> None:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.titles = {k: env.from_string(v) for k, v in data["title"].items()}
        self.lines = {k: env.from_string(v) for k, v in data["line"].items()}

    def cause(self, alert: Alert) -> str:
        """'DNS: SERVFAIL from 127.0.0.1:53 for facebook.com' from the alert's cause."""
        c = alert.cause
        if c.get("maintenance"):
            return f"maintenance: {c['maintenance']}"
        if c.get("override_by"):
            return f"set by {c['override_by']}: {c.get('reason')}"
        error_class, error = c.get("error_class"), c.get("error")
        if not error_class:
            return error or "no details"
        prefix = _KIND_WORDS.get(error_class.split("_")[0], "")
        text = error or (ERROR_CLASSES[error_class].meaning if error_class in ERROR_CLASSES else error_class)
        if prefix and not text.upper().startswith(prefix.upper()):
            return f"{prefix}: {text}"
        return text

    def line(self, alert: Alert) -> str:
        """One alert as one sentence."""
        duration = human_duration(alert.down_for) if alert.down_for is not None else ""
        values = {"a": alert, "cause": self.cause(alert), "duration": duration}
        if alert.event == "state":
            if alert.new_state == "degraded" and alert.cause.get("error_class") == "tls_expiring":
                key = "cert_expiring"
            elif alert.new_state in ("up",) or (alert.down_for is not None and alert.new_state != "down"):
                key = "up"
            else:
                key = alert.new_state if alert.new_state in ("down", "degraded", "maintenance") else "state"
        elif alert.event in FAILOVER_EVENTS:
            key, values = "failover", {**values, "event_title": FAILOVER_EVENTS[alert.event]}
        elif alert.event in ("notifier_failing", "notifier_recovered"):
            key = "notifier"
        else:
            key = alert.event if alert.event in self.lines else "notifier"
        return self.lines[key].render(**values)

    def title(self, alerts: tuple[Alert, ...] | list[Alert]) -> str:
        """The headline of a grouped message: '4 channels down: A, B, C, D — DNS: SERVFAIL ...'.

        It says what holds now: the newest alert of each kind (a restored connection replaces "lost"). When every
        channel shown is flapping, the title says so; otherwise the states' title names the flapping ones after it
        (" (flapping: A)"). A channel counts as flapping from its flapping_started until its flapping_stopped, or
        until a later recovery that is not itself part of the flapping.
        """
        alerts = list(alerts)
        shown = current(alerts)
        flapping = _still_flapping(alerts)
        states = [a for a in alerts if a.event == "state"]
        # Newest state per channel: a channel that went down and came back within the window counts as back.
        latest = {a.channel: a for a in states}
        if flapping and set(latest) <= set(flapping):
            started = list(flapping.values())
            names = ", ".join(sorted(a.channel_name for a in started))
            return self.titles["flapping_one" if len(started) == 1 else "flapping_many"].render(a=started[0], n=len(started), names=names)
        title = self._states_title(alerts, shown, states, latest)
        if flapping:
            title += f" (flapping: {', '.join(sorted(a.channel_name for a in flapping.values()))})"
        return title

    def _states_title(self, alerts: list[Alert], shown: list[Alert], states: list[Alert], latest: dict[str, Alert]) -> str:
        if len(alerts) == 1 or not states:
            if len(alerts) == 1 and states:
                return self._one_state(alerts[0])
            return self.titles["other"].render(line=self.line(shown[0])) + (f" (+{len(shown) - 1} more)" if len(shown) > 1 else "")
        kinds = {_kind(a) for a in latest.values()}
        names = ", ".join(sorted(a.channel_name for a in latest.values()))  # the same order whichever failed first
        n = len(latest)
        if n == 1:
            return self._one_state(next(iter(latest.values())))
        if kinds == {"down"}:
            causes = Counter(self.cause(a) for a in latest.values())
            cause, count = causes.most_common(1)[0]
            common = cause if count == n else _common_class(list(latest.values()))
            return self.titles["down_many"].render(n=n, names=names, common_cause=common)
        if kinds == {"up"}:
            return self.titles["recovered_many"].render(n=n, names=names)
        if kinds == {"degraded"}:
            return self.titles["degraded_many"].render(n=n, names=names)
        return self.titles["mixed"].render(n=n, names=names)

    def _one_state(self, a: Alert) -> str:
        kind = _kind(a)
        duration = human_duration(a.down_for) if a.down_for is not None else ""
        if kind == "down":
            return self.titles["down_one"].render(a=a, cause=self.cause(a))
        if kind == "up" and duration:
            return self.titles["recovered_one"].render(a=a, duration=duration)
        if kind == "degraded":
            return self.titles["degraded_one"].render(a=a, cause=self.cause(a))
        return self.line(a)


def _still_flapping(alerts: list[Alert]) -> dict[str, Alert]:
    """The channels flapping at the end of the list, each with its flapping_started alert. A recovery that is not
    part of the flapping ends it too (after a restart no flapping_stopped ever comes: the detector starts empty)."""
    flapping: dict[str, Alert] = {}
    for a in alerts:
        if a.event == "flapping_started":
            flapping[a.channel] = a
        elif a.event == "flapping_stopped" or (a.event == "state" and _kind(a) == "up" and not a.flapping):
            flapping.pop(a.channel, None)
    return flapping


def _kind(a: Alert) -> str:
    if a.new_state == "down":
        return "down"
    if a.new_state == "degraded":
        return "degraded"
    return "up" if a.new_state == "up" or a.down_for is not None else a.new_state


def _common_class(alerts: list[Alert]) -> str:
    """When the texts differ but the error class is shared: 'DNS resolvers failed to answer (SERVFAIL)'."""
    classes = {a.cause.get("error_class") for a in alerts}
    if len(classes) == 1 and None not in classes:
        known = ERROR_CLASSES.get(classes.pop() or "")
        return known.meaning if known else ""
    return ""
