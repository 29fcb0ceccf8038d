"""Labelled metric families kept as plain dicts of ready-made lines of the Prometheus text format.

The per-check and per-channel families (probe results, channel state, uptime) hold over 100,000 samples
at 10,000 checks (9 MB of text). prometheus-client keeps a child object per label set and formats every
sample through its generic exposition code: about 9 µs a sample. Here a sample is one entry: its whole
line as bytes, name and escaped labels built when the label set first appears and the value written into
it when it is set (a few hundred ns, off the scrape). A scrape is then one bytes join, ~10 ms at 10,000
checks, cheap enough to do on the event loop (bench/run_bench.py; see bench/README.md), and a sample costs
one bytes object: no separate value, prefix or float kept (the value is read back from the line, exactly,
since repr() of a float round-trips). Small service-level metrics stay with prometheus-client.
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


def _value_bytes(value: float) -> bytes:
    # str() is repr() for floats (and keeps an int an int, as it always rendered); format_value only for a non-finite one.
    return ((str(value) if math.isfinite(value) else format_value(value)) + "\n").encode()


class Family:
    """One metric family: a gauge or a counter whose samples are keyed by their label values."""

    __slots__ = ("name", "help", "type", "label_names", "_lines", "_head", "_const")

    def __init__(
        self, name: str, help_text: str, label_names: Labels, metric_type: str = "gauge", const: tuple[tuple[str, str], ...] = ()
    ) -> None:
        if metric_type not in ("gauge", "counter"):
            raise ValueError(f"metric type {metric_type!r} is not gauge or counter")
        if metric_type == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total (Prometheus naming)")
        self.name, self.help, self.type, self.label_names = name, help_text, metric_type, label_names
        # Labels every sample carries, after its own (a prober's location): written once into each line.
        self._const = "".join(f',{n}="{escape_label_value(v)}"' for n, v in const)
        # Every sample's line, "name{labels} value\n", in the order the label sets first appeared.
        self._lines: dict[Labels, bytes] = {}
        escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._head = f"# HELP {name} {escaped}\n# TYPE {name} {metric_type}\n".encode()

    def set(self, labels: Labels, value: float) -> None:
        line = self._lines.get(labels)
        prefix = line[: line.rindex(b" ") + 1] if line is not None else self._prefix(labels)
        self._lines[labels] = prefix + _value_bytes(value)

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        line = self._lines.get(labels)
        if line is None:
            self._lines[labels] = self._prefix(labels) + _value_bytes(0.0 + amount)
            return
        cut = line.rindex(b" ") + 1
        self._lines[labels] = line[:cut] + _value_bytes(float(line[cut:]) + amount)

    def get(self, labels: Labels) -> float | None:
        line = self._lines.get(labels)
        return None if line is None else float(line[line.rindex(b" ") + 1 :])

    def remove(self, labels: Labels) -> None:
        self._lines.pop(labels, None)

    def _prefix(self, labels: Labels) -> bytes:
        if len(labels) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {labels!r}")
        pairs = ",".join(f'{n}="{escape_label_value(v)}"' for n, v in zip(self.label_names, labels)) + self._const
        pairs = pairs.lstrip(",")
        return (f"{self.name}{{{pairs}}} " if pairs else f"{self.name} ").encode()

    def add_to(self, parts: list[bytes]) -> None:
        """Append the family's text to `parts`: HELP and TYPE, then one line a sample (nothing when it has no samples).
        Called on the event loop, which is the only writer, so the samples cannot change meanwhile."""
        if self._lines:
            parts.append(self._head)
            parts.extend(self._lines.values())

    def lines(self) -> Iterator[str]:
        """The family's text line by line (tests and tools; a series removed while iterating is skipped)."""
        if not self._lines:
            return
        yield from self._head.decode().splitlines(keepends=True)
        for labels in list(self._lines):
            line = self._lines.get(labels)
            if line is not None:
                yield line.decode()


def render_bytes(families: Iterable[Family], head: bytes = b"") -> bytes:
    """The text exposition (format 0.0.4) of the families, in the order given, after `head`."""
    parts = [head]
    for family in families:
        family.add_to(parts)
    return b"".join(parts)


def render(families: Iterable[Family]) -> str:
    """render_bytes as text."""
    return render_bytes(families).decode()
