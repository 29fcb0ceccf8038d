"""The alerts section of the config: mistakes named with line, key and fix."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config

CHANNELS = """channels:
  - {id: shop, name: Shop, checks: [{kind: http, target: 'https://shop.example/'}]}
"""


def problems(section: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(CHANNELS + section, source="a.yaml")
    return str(exc.value).splitlines()


def test_defaults_and_a_valid_route():
    config = parse_config(CHANNELS + "alerts:\n  notifiers: [{id: logs, kind: log}]\n  routes: [{severities: [critical], to: [logs]}]\n")
    assert (config.alerts.group_wait, config.alerts.reminder_every, config.alerts.fallback_after) == (30.0, None, 600.0)
    assert config.alerts.routes[0].matches("shop", "own_shop", (), "critical", "state")
    assert not config.alerts.routes[0].matches("shop", "own_shop", (), "info", "state")


@pytest.mark.parametrize(
    "section, expected",
    [
        (
            "alerts:\n  notifiers: [{id: s, kind: pager}]\n",
            ["a.yaml:4: alerts.notifiers[0].kind: 'pager' is not a notifier kind; use one of: email, log, slack, webhook"],
        ),
        (
            "alerts:\n  notifiers: [{id: s, kind: log}]\n  routes: [{to: [slack]}]\n",
            ["a.yaml:5: alerts.routes[0].to[0]: 'slack' is not a notifier id; use one of: s"],
        ),
        (
            "alerts:\n  routes: [{channels: [ebay], mute: true}]\n",
            ["a.yaml:4: alerts.routes[0].channels[0]: 'ebay' is not a channel id; use one of: shop"],
        ),
        (
            "alerts:\n  routes: [{severities: [critical]}]\n",
            ["a.yaml:4: alerts.routes[0]: give `to` (a notifier id, then fallbacks, e.g. to: [slack, email]) or mute: true"],
        ),
        (
            "alerts:\n  group_window: 30s\n",
            [
                "a.yaml:4: alerts.group_window: unknown key 'group_window'; allowed keys here: group_wait, reminder_every, "
                "fallback_after, status_url, notifiers, routes"
            ],
        ),
    ],
    ids=["unknown-kind", "unknown-target", "unknown-channel", "route-without-target", "unknown-key"],
)
def test_mistakes_are_named(section, expected):
    assert problems(section) == expected


def test_a_slack_token_from_the_environment_is_never_echoed():
    text = CHANNELS + "alerts:\n  notifiers: [{id: s, kind: slack, token: '${T}', channel: '#ops'}]\n"
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="a.yaml", environ={"T": "not-a-bot-token-1234"})
    assert "not-a-bot-token-1234" not in str(exc.value) and "starting with xoxb-" in str(exc.value)
