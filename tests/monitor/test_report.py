"""The CLI's tables: aligned columns, long cells wrapped between words, nothing cut off."""

from __future__ import annotations

import pytest

from monitor.report import print_table, wrap


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("ongoing outage", 8, ["ongoing", "outage"]),
        ("connect_refused: connection refused by 127.0.0.1:9", 20, ["connect_refused:", "connection refused", "by 127.0.0.1:9"]),
        ("facebook-shop instagram-shop", 15, ["facebook-shop", "instagram-shop"]),
        ("https://api.allegro.pl/very/long/path", 16, ["https://api.alle", "gro.pl/very/long", "/path"]),
        ("first line\nsecond", 60, ["first line", "second"]),
        ("", 10, [""]),
    ],
    ids=["words-not-split", "error-text", "not-at-hyphens", "only-a-longer-word-is-split", "line-breaks-kept", "empty"],
)
def test_wrap_breaks_between_words(text, width, lines):
    assert wrap(text, width) == lines


def test_a_long_cell_wraps_inside_its_column_and_loses_nothing(capsys):
    why = "dns_nxdomain: NXDOMAIN: shop.example does not exist (10.255.255.53) after 3 tries"
    print_table(["CHECK", "RESULT", "WHY"], [["home", "FAIL", why], ["api", "ok", ""]], max_width=30)
    assert capsys.readouterr().out.splitlines() == [
        "CHECK  RESULT  WHY",
        "home   FAIL    dns_nxdomain: NXDOMAIN:",
        "               shop.example does not exist",
        "               (10.255.255.53) after 3 tries",
        "api    ok",
    ]
