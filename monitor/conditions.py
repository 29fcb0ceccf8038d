"""A small condition language on probe results, in the spirit of Gatus.

    [STATUS] == 200            [RESPONSE_TIME] < 2s          [BODY].status == "SUCCESS"
    [BODY].items[0].id != null [CERT_EXPIRY] > 14d           [DNS_RCODE] == NOERROR

A condition is `[PLACEHOLDER]` with an optional path into a JSON value, an operator
(== != < <= > >=) and a value: a number, a duration (500ms, 2s, 14d: compared in seconds), a
"quoted string", true/false/null, or a bare word such as NOERROR. Conditions are parsed when the
config loads, so a typo is a config error with its column, never a failing check.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.durations import parse_duration

OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+) | (?P<placeholder>\[[A-Z_]+\]) | (?P<op>==|!=|<=|>=|<|>) |
    (?P<string>"(?:[^"\\]|\\.)*") | (?P<dot>\.) | (?P<index>\[\d+\]) |
    (?P<word>[A-Za-z0-9_:+\-.]+)
""",
    re.X,
)
_DURATION = re.compile(r"^\d+(?:\.\d+)?(ms|s|m|h|d)$")
MISSING = object()


class ConditionError(ValueError):
    """A condition that cannot be parsed; the message shows where and what is allowed."""


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    placeholder: str
    path: tuple[str | int, ...]
    op: str
    value: Any

    def evaluate(self, facts: Mapping[str, Any], data: Mapping[str, Any], keys: Mapping[str, str]) -> ConditionResult:
        """Compare the probe's value with the expected one; a missing or mistyped value fails."""
        actual = _lookup(facts, data, keys[self.placeholder], self.path)
        if actual is MISSING:
            return ConditionResult(self.text, False, None, "no such value in the result")
        left, right = actual, self.value
        if isinstance(right, int | float) and not isinstance(right, bool) and isinstance(left, str):
            try:
                left = float(left)
            except ValueError:
                return ConditionResult(self.text, False, actual, "not a number")
        if self.op not in ("==", "!=") and not (_is_number(left) and _is_number(right)):
            return ConditionResult(self.text, False, actual, "not a number")
        if isinstance(left, str) and isinstance(right, str):
            left, right = left.casefold(), right.casefold()  # NOERROR == noerror
        return ConditionResult(self.text, bool(OPERATORS[self.op](left, right)), actual, None)


@dataclass(frozen=True, slots=True)
class ConditionResult:
    condition: str
    ok: bool
    actual: Any
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        """For the API and probe-once: long text values are cut (a [BODY_TEXT] can be a whole page)."""
        actual = self.actual
        if isinstance(actual, str) and len(actual) > 200:
            actual = actual[:197] + "..."
        elif isinstance(actual, dict | list):
            actual = _show(actual)
        return {"condition": self.condition, "ok": self.ok, "actual": actual}

    def describe(self) -> str:
        """'[STATUS] == 200 failed: actual 503' for alerts and the status page."""
        detail = self.problem or f"actual {_show(self.actual)}"
        if self.problem and self.actual is not None:
            detail += f": {_show(self.actual)}"
        return f"{self.condition} failed: {detail}"


def parse_condition(text: str, placeholders: Mapping[str, str]) -> Condition:
    """Parse one condition; placeholders maps the names this probe kind offers to its fact keys."""
    tokens = _tokenize(text)
    if not tokens or tokens[0][0] != "placeholder":
        raise ConditionError(f"{text!r} must start with a placeholder such as {_allowed(placeholders)}")
    name = tokens[0][1][1:-1]
    if name not in placeholders:
        raise ConditionError(f"{text!r}: [{name}] is not available for this check; use {_allowed(placeholders)}")
    path: list[str | int] = []
    i = 1
    while i < len(tokens) and tokens[i][0] in ("dot", "index"):
        kind, value, column = tokens[i]
        if kind == "index":
            path.append(int(value[1:-1]))
            i += 1
        elif i + 1 < len(tokens) and tokens[i + 1][0] == "word" and "" not in tokens[i + 1][1].split("."):
            path.extend(tokens[i + 1][1].split("."))  # the word token also takes "a.b" (and 1.5)
            i += 2
        else:
            raise ConditionError(f"{text!r}: a field name must follow '.' at column {column}")
    if i >= len(tokens) or tokens[i][0] != "op":
        where = f"at column {tokens[i][2]}" if i < len(tokens) else "at the end"
        raise ConditionError(f"{text!r}: expected an operator {where}; use one of {' '.join(OPERATORS)}")
    op = tokens[i][1]
    rest = tokens[i + 1 :]
    if len(rest) != 1 or rest[0][0] not in ("string", "word"):
        where = f"at column {rest[1][2]}" if len(rest) > 1 else "at the end"
        raise ConditionError(
            f"{text!r}: expected one value after {op} ({where}); "
            'write a number, a duration like 2s, "text", true, false, null or a word like NOERROR'
        )
    value = _value(*rest[0][:2])
    if op not in ("==", "!=") and not _is_number(value):
        raise ConditionError(f"{text!r}: {op} compares numbers or durations, not {rest[0][1]}")
    return Condition(text, name, tuple(path), op, value)


def evaluate_all(
    conditions: Sequence[Condition], facts: Mapping[str, Any], data: Mapping[str, Any], keys: Mapping[str, str]
) -> list[ConditionResult]:
    """Evaluate every condition (all are recorded, not only the first failure)."""
    return [c.evaluate(facts, data, keys) for c in conditions]


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConditionError(f"{text!r}: unexpected {text[pos]!r} at column {pos + 1}")
        if match.lastgroup != "ws":
            tokens.append((match.lastgroup or "", match.group(), pos + 1))
        pos = match.end()
    return tokens


def _value(kind: str, raw: str) -> Any:
    if kind == "string":
        return bytes(raw[1:-1], "utf-8").decode("unicode_escape")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _DURATION.match(raw):
        return parse_duration(raw)
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _lookup(facts: Mapping[str, Any], data: Mapping[str, Any], key: str, path: Sequence[str | int]) -> Any:
    value = data[key] if key in data else facts.get(key, MISSING)
    if callable(value):  # parsed on first use only (a JSON body), so checks without [BODY] never parse
        try:
            value = value()
        except ValueError:
            return MISSING
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return MISSING
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _allowed(placeholders: Mapping[str, str]) -> str:
    return ", ".join(f"[{p}]" for p in placeholders) or "(none: this probe kind has no values to test)"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
