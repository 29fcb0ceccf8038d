"""Labelled metric families kept as plain dicts and rendered straight to the Prometheus text format.

The per-check and per-channel families (probe results, channel state, uptime) hold tens of thousands
of samples at 2,000 checks. prometheus-client keeps a child object per label set and formats every
sample through its generic exposition code: about 9 µs a sample, ~250 ms a scrape at 2,000 checks
(measured with bench/run_bench.py's /metrics scrapes; see bench/README.md). Here a sample is a dict entry
and its line prefix (name and escaped labels) is
built once, when the label set first appears, so a rendering is one join: the same text for a tenth of
the time. Small service-level metrics stay with prometheus-client (histograms, counters by notifier).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

Labels = tuple[str, ...]


def escape_label_value(value: str) -> str:
    """The text format's escaping of a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (+Inf, -Inf and NaN spelled its way)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Family:
    """One metric family: a gauge or a counter whose samples are keyed by their label values."""

    __slots__ = ("name", "help", "type", "label_names", "values", "_prefixes")

    def __init__(self, name: str, help_text: str, label_names: Labels, metric_type: str = "gauge") -> None:
        if metric_type not in ("gauge", "counter"):
            raise ValueError(f"metric type {metric_type!r} is not gauge or counter")
        if metric_type == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total (Prometheus naming)")
        self.name, self.help, self.type, self.label_names = name, help_text, metric_type, label_names
        self.values: dict[Labels, float] = {}
        self._prefixes: dict[Labels, str] = {}

    def set(self, labels: Labels, value: float) -> None:
        if labels not in self._prefixes:
            self._add(labels)
        self.values[labels] = value

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        if labels not in self._prefixes:
            self._add(labels)
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, labels: Labels) -> float | None:
        return self.values.get(labels)

    def remove(self, labels: Labels) -> None:
        self.values.pop(labels, None)
        self._prefixes.pop(labels, None)

    def _add(self, labels: Labels) -> None:
        if len(labels) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {labels!r}")
        pairs = ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(self.label_names, labels))
        self._prefixes[labels] = f"{self.name}{{{pairs}}} " if pairs else f"{self.name} "

    def lines(self) -> Iterator[str]:
        """The family's text: HELP and TYPE, then one line a sample (nothing when it has no samples)."""
        if not self.values:
            return
        yield f"# HELP {self.name} {self.help.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}\n"
        yield f"# TYPE {self.name} {self.type}\n"
        prefixes = self._prefixes
        # /metrics renders in a thread while the event loop records results: iterate over a copy (made
        # in one step under the GIL), and skip a series removed meanwhile.
        for labels, value in list(self.values.items()):
            prefix = prefixes.get(labels)
            if prefix is not None:
                # str() is repr() for floats and the fast path; format_value only for a non-finite one.
                yield prefix + (str(value) if math.isfinite(value) else format_value(value)) + "\n"


def render(families: Iterable[Family]) -> str:
    """The text exposition (format 0.0.4) of the families, in the order given."""
    return "".join(line for family in families for line in family.lines())
