"""The failover section of the config: every mistake named with its line, key, value and fix."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config
from monitor.failover.plan import normal_amounts

CHANNELS = """channels:
  - {id: shop, name: Shop, checks: [{kind: http, target: 'https://shop.example/'}]}
  - {id: allegro, name: Allegro, checks: [{kind: http, target: 'https://allegro.pl/'}]}
"""


def problems(failover: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(CHANNELS + failover, source="fo.yaml")
    return str(exc.value).splitlines()


def test_a_valid_section_with_defaults():
    config = parse_config(
        CHANNELS
        + """failover:
  actuators: [{id: hook, kind: log}]
  promotions:
    - {id: ads, name: Ads, total: 1001, channels: {shop: {share: 1, actuator: hook}, allegro: {share: 1, actuator: hook}}}
""",
    )
    promo = config.failover.promotions[0]
    assert (promo.mode, promo.policy, promo.unit) == ("dry-run", "proportional", "weight")
    assert (config.failover.timing.hold_down, config.failover.timing.failback_after) == (120.0, 600.0)
    assert normal_amounts(promo) == {"shop": 501, "allegro": 500}  # the odd unit to the first on a tie
    assert config.show_failover is False


@pytest.mark.parametrize(
    "section, expected",
    [
        (
            "failover:\n  timing: {max_moves: 3}\n",
            [
                "fo.yaml:5: failover.timing.max_moves: unknown key 'max_moves'; allowed keys here: hold_down, failback_after, settle, "
                "max_moves_per_hour"
            ],
        ),
        (
            "failover:\n  actuators: [{id: fb, kind: facebook}]\n",
            ["fo.yaml:5: failover.actuators[0].kind: 'facebook' is not an actuator kind; use one of: google_ads, log, meta_ads, webhook"],
        ),
        (
            "failover:\n  actuators: [{id: hook, kind: webhook, url: 'ftp://x', secret: '0123456789abcdef', retries: 3}]\n",
            [
                "fo.yaml:5: failover.actuators[0].url: ftp://x ... is not an http(s) URL (the rest is not shown: a webhook's path "
                "can be a secret); write e.g. https://hooks.example.com/failover",
                "fo.yaml:5: failover.actuators[0].retries: unknown key 'retries'; allowed keys here: id, kind, url, secret, timeout, headers",
            ],
        ),
        (
            "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
            "    - {id: ads, name: Ads, total: 1000, unit: zloty, channels: {shop: {share: 1, actuator: h}}}\n",
            [
                "fo.yaml:7: failover.promotions[0].unit: 'zloty' is not a unit; use an ISO 4217 currency code (PLN, EUR, USD: "
                "amounts in its minor units) or weight"
            ],
        ),
        (
            "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
            "    - {id: ads, name: Ads, total: 1000, channels: {shop: {amount: 600, actuator: h}, allegro: {amount: 300, actuator: h}}}\n",
            ["fo.yaml:7: failover.promotions[0]: the channels' amounts add up to 900, not the total 1000; make them add up, or use shares"],
        ),
        (
            "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
            "    - {id: ads, name: Ads, total: 1000, channels: {shop: {share: 1, amount: 5, actuator: h}}}\n",
            [
                "fo.yaml:7: failover.promotions[0].channels.shop: give either share (a weight, e.g. share: 50) or amount "
                "(minor units, e.g. amount: 20000)"
            ],
        ),
        (
            "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
            "    - {id: ads, name: Ads, total: 1000, policy: priority, priority: [shop, shop], channels: {shop: {share: 1, actuator: h}}}\n",
            ["fo.yaml:7: failover.promotions[0]: priority names shop more than once; list each channel once"],
        ),
        (
            "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
            "    - {id: ads, name: Ads, total: 1000, channels: {ebay: {share: 1, actuator: nope, max: 10}}}\n",
            [
                "fo.yaml:7: failover.promotions[0].channels.ebay: 'ebay' is not a channel id; use one of: allegro, shop",
                "fo.yaml:7: failover.promotions[0].channels.ebay.actuator: 'nope' is not an actuator id; use one of: h",
                "fo.yaml:7: failover.promotions[0].channels.ebay: its normal amount 1000 is outside min 0 .. max 10; "
                "change the share/amount or the caps",
            ],
        ),
        (
            "failover:\n  notices: [{id: n, when_down: shop, post_on: [shop], actuator: h, text: down}]\n",
            [
                "fo.yaml:5: failover.notices[0].post_on[0]: 'shop' is the channel that is down; post the notice elsewhere",
                "fo.yaml:5: failover.notices[0].actuator: 'h' is not an actuator id; add it under failover.actuators "
                "(kind: webhook, meta_ads or log)",
            ],
        ),
        (
            "failover:\n  timing: {hold_down: -1m}\n",
            ["fo.yaml:5: failover.timing.hold_down: '-1m' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d"],
        ),
    ],
    ids=[
        "unknown-timing-key",
        "unknown-actuator-kind",
        "actuator-keys",
        "unit",
        "amounts-sum",
        "share-and-amount",
        "priority-twice",
        "references-and-caps",
        "notice",
        "negative-delay",
    ],
)
def test_mistakes_are_named(section, expected):
    assert problems(section) == expected


def test_the_secret_from_the_environment_is_never_echoed():
    text = CHANNELS + "failover:\n  actuators: [{id: h, kind: webhook, url: 'http://x', secret: '${S}'}]\n"
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="fo.yaml", environ={"S": "tiny"})
    assert "tiny" not in str(exc.value)


def test_an_infinite_share_is_a_problem_not_a_crash():
    lines = problems(
        "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
        "    - {id: ads, name: Ads, total: 1000, channels: {shop: {share: .inf, actuator: h}}}\n"
    )
    assert len(lines) == 1 and lines[0].startswith("fo.yaml:7: failover.promotions[0].channels.shop.share: ")


@pytest.mark.parametrize(
    ("lands_on", "message"),
    [
        (
            "shop",
            "fo.yaml:7: failover.promotions[0].channels.shop.lands_on: 'shop' is this placement's own channel; name "
            "the channel its buyers land on, or leave lands_on out",
        ),
        ("ebay", "fo.yaml:7: failover.promotions[0].channels.shop.lands_on: 'ebay' is not a channel id; use one of: allegro, shop"),
    ],
    ids=["itself", "unknown"],
)
def test_lands_on_must_name_another_channel(lands_on, message):
    assert problems(
        "failover:\n  actuators: [{id: h, kind: log}]\n  promotions:\n"
        f"    - {{id: ads, name: Ads, total: 10, channels: {{shop: {{share: 1, actuator: h, lands_on: {lands_on}}}, "
        "allegro: {share: 1, actuator: h}}}\n"
    ) == [message]


def test_settle_defaults_to_30_seconds_and_takes_0():
    base = CHANNELS + "failover:\n  timing: {%s}\n"
    assert parse_config(base % "").failover.timing.settle == 30.0
    assert parse_config(base % "settle: 0s").failover.timing.settle == 0.0
