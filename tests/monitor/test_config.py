"""Config loading: valid files load with defaults; every bad input gets its exact message."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, load_config, parse_config
from monitor.core.durations import format_duration, parse_duration
from tests.support import ROOT

MINIMAL = """
channels:
  - id: allegro
    name: Allegro
    checks:
      - kind: http
        target: https://allegro.pl/
"""


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="c.yaml", **kwargs)
    return str(info.value).splitlines()


def test_minimal_config_gets_defaults():
    config = parse_config(MINIMAL)
    check = config.channels[0].checks[0]
    assert (check.id, check.interval_seconds, check.timeout_seconds) == ("http", 60.0, 10.0)
    assert config.check_thresholds(config.channels[0]) == (3, 2)
    assert config.listen == "127.0.0.1:8080"
    assert config.db_url == "sqlite:///data/channel-monitor.db"
    assert check.options.expect_status == ["2xx", "3xx"]
    # The resolved check is settled: a plain frozen value, nothing of the file's raw entry left to read.
    assert type(check).__name__ == "CheckSpec" and not hasattr(check, "model_extra")
    assert config.channels[0].check_entries[0].id is None  # the entry as written is not changed either


def test_example_file_is_valid():
    config = load_config(ROOT / "examples" / "channels.yaml")
    assert {c.id for c in config.channels} >= {"allegro", "amazon-pl", "facebook-shop", "own-shop", "google-shopping"}
    assert {k.kind for c in config.channels for k in c.checks} == {"dns", "http", "tls", "statuspage", "opengraph"}


def test_env_reference_is_substituted():
    text = MINIMAL.replace("https://allegro.pl/", "https://${SHOP_HOST}/")
    config = parse_config(text, environ={"SHOP_HOST": "shop.example.com"})
    assert config.channels[0].checks[0].target == "https://shop.example.com/"


def test_check_timeout_defaults_to_interval_when_shorter():
    text = MINIMAL + "        interval: 5s\n"
    assert parse_config(text).channels[0].checks[0].timeout_seconds == 5.0


BAD = [
    (
        "unknown-top-key",
        "colour: red\n" + MINIMAL,
        [
            "c.yaml:1: colour: unknown key 'colour'; allowed keys here: listen, data_dir, database_url, log_format, location, role, allow_networks, admin_token, defaults, flapping, connectivity, retention, probing, channels, failover, alerts, show_failover"
        ],
    ),
    (
        "unknown-check-key",
        MINIMAL + "        keyword: shop\n",
        [
            "c.yaml:8: channels[0].checks[0].keyword: unknown key 'keyword'; allowed keys here: id, kind, target, interval, "
            "timeout, conditions, on_failure, quorum, method, headers, expect_status, body_contains, body_not_contains, body_matches, "
            "body_not_matches, content_type, max_response_time, max_body_bytes, follow_redirects, max_redirects, verify_tls"
        ],
    ),
    (
        "down-when-over-checks",
        MINIMAL.replace("    checks:", "    down_when: 3\n    checks:"),
        [
            "c.yaml:3: channels[0]: down_when is 3 but channel 'allegro' has 1 check that can take it down, so it "
            "could never be down; use a number up to 1, or 'all'"
        ],
    ),
    (
        "down-when-over-down-checks",
        MINIMAL.replace("    checks:", "    down_when: 2\n    checks:")
        + "        on_failure: degraded\n      - {kind: dns, target: allegro.pl}\n",
        [
            "c.yaml:3: channels[0]: down_when is 2 but channel 'allegro' has 1 check that can take it down (1 more with "
            "on_failure: degraded), so it could never be down; use a number up to 1, or 'all'"
        ],
    ),
    (
        "bad-duration",
        MINIMAL + "        interval: 5x\n",
        ["c.yaml:8: channels[0].checks[0].interval: '5x' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d"],
    ),
    (
        "negative-duration",
        MINIMAL + "        interval: -5\n",
        ["c.yaml:8: channels[0].checks[0].interval: -5 is not a positive duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d"],
    ),
    (
        "wrong-type",
        "defaults: {fail_threshold: many}\n" + MINIMAL,
        ["c.yaml:1: defaults.fail_threshold: 'many' is not valid: input should be a valid integer, unable to parse string as an integer"],
    ),
    (
        "bad-url",
        MINIMAL.replace("https://allegro.pl/", "allegro.pl"),
        ["c.yaml:7: channels[0].checks[0].target: 'allegro.pl' is not an http(s) URL; write e.g. https://shop.example.com/"],
    ),
    (
        "unknown-kind",
        MINIMAL.replace("kind: http", "kind: smtp"),
        ["c.yaml:6: channels[0].checks[0].kind: 'smtp' is not a probe kind; use one of: dns, http, opengraph, statuspage, tcp, tls"],
    ),
    (
        "bad-id",
        MINIMAL.replace("id: allegro", "id: Allegro PL"),
        [
            "c.yaml:3: channels[0].id: 'Allegro PL' is not a valid id; use lower-case letters, digits, '-' or '_' (at most 64), starting with a letter or digit"
        ],
    ),
    (
        "missing-target",
        MINIMAL.replace("        target: https://allegro.pl/\n", ""),
        ["c.yaml:6: channels[0].checks[0].target: required key is missing"],
    ),
    ("no-channels", "listen: 127.0.0.1:9000\n", ["c.yaml: channels: required key is missing"]),
    (
        "bad-listen",
        "listen: everywhere\n" + MINIMAL,
        ["c.yaml:1: listen: 'everywhere' is not an address to listen on; write host:port, e.g. 127.0.0.1:8080"],
    ),
    (
        "bad-group",
        MINIMAL.replace("name: Allegro", "name: Allegro\n    group: bazaar"),
        [
            "c.yaml:5: channels[0].group: 'bazaar' is not allowed; use one of: 'own_shop', 'marketplace', 'social', 'comparison', 'messaging' or 'other'"
        ],
    ),
    (
        "timeout-over-interval",
        MINIMAL + "        interval: 10s\n        timeout: 30s\n",
        ["c.yaml:9: channels[0].checks[0].timeout: 30s is longer than the interval 10s; a check's timeout must be at most its interval"],
    ),
    (
        "duplicate-check",
        MINIMAL + "      - kind: http\n        target: https://allegro.pl/x\n",
        ["c.yaml:8: channels[0].checks[1].id: two checks of channel 'allegro' are both named 'http'; give each an 'id'"],
    ),
    (
        "duplicate-channel",
        MINIMAL + MINIMAL.replace("channels:\n", ""),
        ["c.yaml:9: channels[1].id: 'allegro' is used by another channel; channel ids must be unique"],
    ),
    ("not-yaml", "channels: [\n", None),
    ("not-a-mapping", "- a\n- b\n", ["c.yaml: the file must be a YAML mapping with a 'channels' list"]),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in BAD], ids=[i for i, _, _ in BAD])
def test_bad_config_is_reported_exactly(text, expected):
    lines = problems(text)
    if expected is None:  # YAML syntax errors: the parser's wording, but always with the line
        assert len(lines) == 1 and lines[0].startswith("c.yaml: line 2: not valid YAML")
    else:
        assert lines == expected


def test_all_problems_are_reported_at_once_in_file_order():
    text = "listen: x\n" + MINIMAL.replace("kind: http", "kind: smtp") + "    colour: red\n"
    lines = problems(text)
    assert [line.split(": ")[1] for line in lines] == ["listen", "channels[0].checks[0].kind", "channels[0].colour"]


def test_missing_env_var_names_the_key_and_variable():
    text = MINIMAL.replace("https://allegro.pl/", "https://${SHOP_HOST}/")
    assert problems(text, environ={}) == [
        "c.yaml:7: channels[0].checks[0].target: environment variable SHOP_HOST is not set; export it or remove ${SHOP_HOST}"
    ]


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"


@pytest.mark.parametrize(
    "text,seconds",
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), (15, 15), ("1.5s", 1.5)],
    ids=["ms", "s", "m", "h", "d", "number", "fraction"],
)
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds,text", [(30, "30s"), (300, "5m"), (0.5, "500ms"), (90, "90s")], ids=["s", "m", "ms", "odd"])
def test_durations_format(seconds, text):
    assert format_duration(seconds) == text


def test_env_reference_default_is_used_when_unset():
    text = MINIMAL.replace("https://allegro.pl/", "${SHOP_URL:-https://fallback.example/}")
    assert parse_config(text, environ={}).channels[0].checks[0].target == "https://fallback.example/"


@pytest.mark.parametrize(
    "text,expected",
    [
        (MINIMAL + "        interval: .nan\n", "channels[0].checks[0].interval: nan is not a positive duration"),
        (MINIMAL + "        interval: .inf\n", "channels[0].checks[0].interval: inf is not a positive duration"),
        (MINIMAL + "        interval: 99999999d\n", "is longer than the longest duration allowed (3650d)"),
        (MINIMAL + "        interval: 1ms\n", "channels[0].checks[0].interval: 1ms is too often; a check runs at most every 100ms"),
        (MINIMAL.replace("name: Allegro", 'name: "Allegro\\nFAKE"'), "has a line break or control character"),
        ("database_url: mysql://x\n" + MINIMAL, "database_url: 'mysql://x' is not a database URL; use sqlite:///"),
        (
            MINIMAL.replace("    name: Allegro\n", "    name: Allegro\n    name: Other\n"),
            "c.yaml: line 5: not valid YAML: key 'name' appears twice (first on line 4); keep one",
        ),
    ],
    ids=["nan", "inf", "huge", "too-often", "newline-in-name", "database-scheme", "duplicate-key"],
)
def test_values_that_would_break_the_running_service_are_refused(text, expected):
    assert expected in "\n".join(problems(text))


def test_values_from_the_environment_are_not_echoed():
    text = MINIMAL.replace("https://allegro.pl/", "https://user:${SHOP_PASS}@allegro.pl/") + "        headers: ${TOKEN}\n"
    message = "\n".join(problems(text, environ={"SHOP_PASS": "hunter22", "TOKEN": "supersecret-token"}))
    assert "supersecret-token" not in message and "${TOKEN}" in message


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: the file is not UTF-8 text (byte 0); save it as UTF-8"


def test_maintenance_windows_and_rules_load():
    text = (
        MINIMAL.replace(
            "    checks:",
            """    down_when: 2
    min_state_time: 5m
    maintenance:
      - {reason: weekly backup, cron: '0 2 * * sun', duration: 2h, time_zone: Europe/Warsaw}
      - {start: '2026-12-01T02:00:00', end: '2026-12-01T04:00:00', time_zone: Europe/Warsaw}
    checks:""",
        )
        + "        on_failure: degraded\n      - {kind: dns, target: allegro.pl}\n      - {kind: tls, target: allegro.pl}\n"
    )
    config = parse_config(text)
    channel = config.channels[0]
    rules = config.rules(channel)
    assert (rules.down_when, rules.min_state_time, rules.degrade_only) == (2, 300.0, frozenset({"http"}))
    weekly, once = (w.window() for w in channel.maintenance)
    assert (weekly.cron, weekly.duration, weekly.time_zone) == ("0 2 * * sun", 7200.0, "Europe/Warsaw")
    assert (once.start, once.end) == (1796086800.0, 1796094000.0)  # 01:00-03:00 UTC


@pytest.mark.parametrize(
    "window,message",
    [
        ("{cron: '0 2 * * sun'}", "a recurring window needs both cron and duration, e.g. cron: '0 2 * * sun', duration: 2h"),
        ("{start: '2026-12-01T02:00:00Z'}", "a one-off window needs both start and end, e.g. start: 2026-12-01T02:00:00+01:00"),
        ("{reason: x}", "give either start and end (one-off) or cron and duration (recurring)"),
        ("{cron: 'every sunday', duration: 1h}", "'every sunday' is not a crontab line"),
        (
            "{cron: '0 2 * * sun', duration: 1h, time_zone: Mars/Olympus}",
            "'Mars/Olympus' is not a time zone; use an IANA name such as Europe/Warsaw or UTC",
        ),
        ("{start: '2026-12-01T04:00:00Z', end: '2026-12-01T02:00:00Z'}", "end must be after start"),
        (
            "{cron: '0 2 * * sun', duration: 1h, every: 1}",
            "unknown key 'every'; allowed keys here: reason, start, end, cron, duration, time_zone",
        ),
    ],
    ids=["cron-without-duration", "start-without-end", "neither", "bad-cron", "bad-zone", "end-before-start", "unknown-key"],
)
def test_bad_maintenance_windows_are_explained(window, message):
    text = MINIMAL.replace("    checks:", f"    maintenance: [{window}]\n    checks:")
    assert message in "\n".join(problems(text))


def test_flapping_thresholds_must_leave_a_gap():
    assert problems("flapping: {high: 20, low: 30}\n" + MINIMAL) == [
        "c.yaml:1: flapping: low (30) must be below high (20); e.g. low: 25, high: 50"
    ]


def test_down_when_all_counts_the_checks_that_can_take_the_channel_down():
    text = MINIMAL.replace("    checks:", "    down_when: all\n    checks:") + (
        "        on_failure: degraded\n      - {kind: dns, target: allegro.pl}\n      - {kind: tls, target: allegro.pl}\n"
    )
    config = parse_config(text)
    # dns and tls down take the channel down; the degrade-only http check could never be down, so it is not waited for
    assert config.rules(config.channels[0]).down_when == 2
