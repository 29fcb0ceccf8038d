"""Helpers for tests/e2e/test_browser.py: finding the browser, reading the status page as a user sees it."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tests.support.skips import missing as report_missing

CHROMIUM_VAR = "CM_TEST_CHROMIUM"  # another Chromium executable than Debian's /usr/bin/chromium
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def chromium_or_skip() -> str:
    """The Chromium executable and an importable Playwright, or skip (fail under CI) saying what is missing."""
    missing = []
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("Playwright's Python package (the README's test command installs it)")
    executable = os.environ.get(CHROMIUM_VAR) or DEFAULT_CHROMIUM
    if not (Path(executable).is_file() and os.access(executable, os.X_OK)) and not shutil.which(executable):
        missing.append(f"Chromium at {executable} (apt-get install chromium, or set {CHROMIUM_VAR})")
    if missing:
        report_missing("browser test needs " + " and ".join(missing))
    return executable


# One atomic read of what the page shows (the page refreshes itself, so nothing is read piecemeal).
# Found by what a user sees, not by layout: a channel is a list item or table row holding a state
# dot (its name is the row's first link or bold text); a promotion's amounts are a table found by
# its header texts (Channel, Normal, Now, Applied) inside the section titled with its name.
SNAPSHOT_JS = r"""
() => {
  const text = el => (el ? el.innerText.replace(/\s+/g, ' ').trim() : null);
  const painted = el => {
    const bg = getComputedStyle(el).backgroundColor;
    return bg && bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent';
  };
  const round = el => painted(el) && getComputedStyle(el).borderRadius.startsWith('50%') && el.getBoundingClientRect().width < 40;
  const banner = document.querySelector('[role=status]');
  const channels = {};
  for (const row of document.querySelectorAll('li, tr')) {
    const dot = row.querySelector('.dot') || [...row.querySelectorAll('span, i, div')].find(round);
    if (!dot || row.querySelector('li, tr')) continue;
    const label = row.querySelector('a, strong') || row;
    const name = (label.innerText || '').split('\n')[0].trim();
    const state = (dot.parentElement.innerText || '').split('\n')[0].trim();
    channels[name] = {state, dot: getComputedStyle(dot).backgroundColor};
  }
  const promotions = {};
  for (const table of document.querySelectorAll('table')) {
    const h = [...table.querySelectorAll('thead th')].map(th => text(th).toLowerCase());
    const iChannel = h.indexOf('channel'), iNow = h.indexOf('now'), iNormal = h.indexOf('normal'), iApplied = h.indexOf('applied');
    const section = table.closest('section');
    if (iChannel < 0 || iNow < 0 || iNormal < 0 || !section) continue;
    const title = text(section.querySelector('strong, h2, h3')) || section.getAttribute('aria-label');
    const rows = promotions[title] = promotions[title] || {};
    for (const tr of table.querySelectorAll('tbody tr')) {
      const cells = tr.querySelectorAll('td');
      if (cells.length <= Math.max(iChannel, iNow, iNormal, iApplied)) continue;
      rows[text(cells[iChannel])] = {normal: text(cells[iNormal]), now: text(cells[iNow]),
                                     applied: iApplied >= 0 ? text(cells[iApplied]) : null};
    }
  }
  return {banner: text(banner), bannerColor: banner ? getComputedStyle(banner).backgroundColor : null,
          channels, promotions, body: text(document.body)};
}
"""


def amount(text: str) -> float:
    """'2,083.34 PLN' -> 2083.34."""
    match = re.search(r"-?[\d,]+(?:\.\d+)?", text or "")
    if not match:
        raise AssertionError(f"no amount in {text!r}")
    return float(match.group().replace(",", ""))


def rgb(css: str | None) -> tuple[int, int, int]:
    """'rgb(198, 40, 40)' or 'rgba(...)' -> (198, 40, 40)."""
    match = re.match(r"rgba?\((\d+),\s*(\d+),\s*(\d+)", css or "")
    if not match:
        raise AssertionError(f"not a colour: {css!r}")
    return tuple(int(v) for v in match.groups())  # type: ignore[return-value]


def is_red(css: str | None) -> bool:
    r, g, b = rgb(css)
    return r >= 150 and r - max(g, b) >= 100


def is_green(css: str | None) -> bool:
    r, g, b = rgb(css)
    return g >= 120 and g - max(r, b) >= 40
