"""Plain-text tables for terminal output."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 60) -> None:
    """Print rows under headers in aligned columns; a cell wider than max_width wraps onto more lines."""
    cells = [[wrap(str(v), max_width) for v in row] for row in rows]
    widths = [max([len(h)] + [len(line) for row in cells for line in row[i]]) for i, h in enumerate(headers)]
    print(_line(headers, widths))
    for row in cells:
        for n in range(max(len(lines) for lines in row)):
            print(_line([lines[n] if n < len(lines) else "" for lines in row], widths))


def wrap(text: str, width: int) -> list[str]:
    """The text as lines of at most width, broken between words; a word longer than width alone is split."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if len(paragraph) <= width:
            lines.append(paragraph)
        else:  # not at hyphens either: "facebook-shop" and "connect_refused" stay whole
            lines += textwrap.wrap(paragraph, width, break_on_hyphens=False) or [""]
    return lines


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
