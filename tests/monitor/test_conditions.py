"""The condition language: parsing with exact errors, and evaluation with the actual value recorded."""

from __future__ import annotations

import pytest

from monitor.conditions import ConditionError, parse_condition

HTTP = {"STATUS": "status", "RESPONSE_TIME": "response_time_seconds", "BODY": "body", "CERT_EXPIRY": "cert_expiry_seconds"}
DNS = {"DNS_RCODE": "rcode"}
FACTS = {"status": 503, "response_time_seconds": 0.4, "cert_expiry_seconds": 86400 * 20, "rcode": "SERVFAIL"}
DATA = {"body": {"status": "ERROR", "error_code": "ERROR_AUTH", "items": [{"id": 7, "ok": True}], "count": "3"}}


def check(text: str, placeholders=HTTP, facts=FACTS, data=DATA):
    return parse_condition(text, placeholders).evaluate(facts, data, placeholders)


@pytest.mark.parametrize(
    "text,ok",
    [
        ("[STATUS] == 503", True),
        ("[STATUS] == 200", False),
        ("[STATUS] < 500", False),
        ("[STATUS] >= 500", True),
        ("[RESPONSE_TIME] < 2s", True),
        ("[RESPONSE_TIME] < 300ms", False),
        ("[RESPONSE_TIME] <= 0.4", True),
        ('[BODY].status == "SUCCESS"', False),
        ('[BODY].status != "SUCCESS"', True),
        ('[BODY].status == "error"', True),
        ("[BODY].items[0].id == 7", True),
        ("[BODY].items[0].ok == true", True),
        ("[BODY].missing == null", False),
        ("[BODY].count > 2", True),
        ("[CERT_EXPIRY] > 14d", True),
        ("[CERT_EXPIRY] > 30d", False),
    ],
    ids=lambda v: str(v),
)
def test_evaluation(text, ok):
    assert check(text).ok is ok


def test_dns_rcode_words_compare_case_insensitively():
    assert check("[DNS_RCODE] == NOERROR", DNS).ok is False
    assert check("[DNS_RCODE] == servfail", DNS).ok is True


@pytest.mark.parametrize(
    "text,described",
    [
        ("[STATUS] == 200", "[STATUS] == 200 failed: actual 503"),
        ('[BODY].status == "SUCCESS"', "[BODY].status == \"SUCCESS\" failed: actual 'ERROR'"),
        ("[BODY].nope.deeper == 1", "[BODY].nope.deeper == 1 failed: no such value in the result"),
        ("[BODY].status > 3", "[BODY].status > 3 failed: not a number: 'ERROR'"),
    ],
    ids=["number", "string", "missing-path", "not-a-number"],
)
def test_failed_condition_describes_the_actual_value(text, described):
    result = check(text)
    assert (result.ok, result.describe()) == (False, described)


def test_body_that_is_not_json_fails_the_condition_instead_of_crashing():
    def not_json():
        raise ValueError("Expecting value")

    assert check("[BODY].status == 1", data={"body": not_json}).describe() == "[BODY].status == 1 failed: no such value in the result"


@pytest.mark.parametrize(
    "text,message",
    [
        ("[STATUS] === 200", "'[STATUS] === 200': unexpected '=' at column 12"),
        ("[FOO] == 1", "'[FOO] == 1': [FOO] is not available for this check; use [STATUS], [RESPONSE_TIME], [BODY], [CERT_EXPIRY]"),
        ("STATUS == 200", "'STATUS == 200' must start with a placeholder such as [STATUS], [RESPONSE_TIME], [BODY], [CERT_EXPIRY]"),
        ("[STATUS]", "'[STATUS]': expected an operator at the end; use one of == != < <= > >="),
        ("[STATUS] 200", "'[STATUS] 200': expected an operator at column 10; use one of == != < <= > >="),
        (
            "[STATUS] <",
            "'[STATUS] <': expected one value after < (at the end); write a number, a duration like 2s, "
            '"text", true, false, null or a word like NOERROR',
        ),
        ("[STATUS] < fast", "'[STATUS] < fast': < compares numbers or durations, not fast"),
        ("[BODY]. == 1", "'[BODY]. == 1': a field name must follow '.' at column 7"),
    ],
    ids=[
        "bad-operator",
        "unknown-placeholder",
        "no-brackets",
        "no-operator",
        "missing-operator",
        "no-value",
        "order-on-word",
        "empty-field",
    ],
)
def test_bad_conditions_are_rejected_exactly(text, message):
    with pytest.raises(ConditionError) as info:
        parse_condition(text, HTTP)
    assert str(info.value) == message


def test_config_reports_a_bad_condition_with_its_path():
    from monitor.config import ConfigError, parse_config

    text = """
channels:
  - id: baselinker
    name: BaseLinker
    checks:
      - kind: http
        target: https://api.baselinker.com/connector.php
        conditions: ['[BODY].status == "SUCCESS"', "[DNS_RCODE] == NOERROR"]
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="c.yaml")
    assert str(info.value).startswith(
        "c.yaml:8: channels[0].checks[0].conditions[1]: '[DNS_RCODE] == NOERROR': [DNS_RCODE] is not available for this check; use [STATUS]"
    )
