"""Turn validation failures into messages that name the file, line, key path, bad value and fix."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from monitor.yaml_plain import Unsupported, load_plain

Loc = tuple[str | int, ...]
SLUG_HINT = "use lower-case letters, digits, '-' or '_' (at most 64), starting with a letter or digit"


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc
    message: str


class ConfigError(Exception):
    """A config file that cannot be used; str() lists every problem, one per line."""

    def __init__(self, source: str, problems: Sequence[Problem], lines: dict[Loc, int] | None = None) -> None:
        self.source = source
        self.problems = list(problems)
        self.lines = lines or {}
        super().__init__("\n".join(self.format_lines()))

    def format_lines(self) -> list[str]:
        """One 'file:line: key.path: message' line per problem."""
        out = []
        for problem in sorted(self.problems, key=lambda p: _line_for(p.loc, self.lines) or 0):
            line = _line_for(problem.loc, self.lines)
            where = f"{self.source}:{line}" if line else self.source
            path = format_loc(problem.loc)
            out.append(f"{where}: {path + ': ' if path else ''}{problem.message}")
        return out


def format_loc(loc: Loc) -> str:
    """('channels', 0, 'checks', 1, 'target') -> 'channels[0].checks[1].target'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


class _Strict:
    """Refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {seen[key]}); keep one", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class StrictLoader(_Strict, yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping."""


# LibYAML's parser (when PyYAML was built with it, as its wheels are) reads a large config about ten times
# faster than the pure-Python one: 10,000 checks took seconds of start-up in the parser alone.
_FastLoader: type = type("FastStrictLoader", (_Strict, yaml.CSafeLoader), {}) if yaml.__with_libyaml__ else StrictLoader


def load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML document once: its data (safe types, no key twice) and, when it had to be read the ordinary
    way, its node tree, from which line_map finds the line of a key path when there is a problem to report.

    A plain file (monitor/yaml_plain.py) is read without a node tree: None then, and compose_yaml(text) makes
    the tree only when there is a problem to report (it costs more than reading the data)."""
    try:
        return load_plain(text), None
    except Unsupported:
        pass
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def compose_yaml(text: str) -> yaml.Node | None:
    """The node tree of a YAML text that load_yaml read (for line_map)."""
    loader = _FastLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def line_map(root: yaml.Node | None) -> dict[Loc, int]:
    """Every key path of a composed document and the 1-based line it starts on."""
    lines: dict[Loc, int] = {}

    def walk(node: Any, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = loc + (key.value,)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[loc + (i,)] = item.start_mark.line + 1
                walk(item, loc + (i,))

    if root is not None:
        walk(root, ())
    return lines


def problems_from_validation(exc: ValidationError, prefix: Loc, allowed: Callable[[Loc], list[str]]) -> list[Problem]:
    """Rewrite pydantic's errors as plain sentences with the bad value and what is allowed."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        kind, value = err["type"], err.get("input")
        if kind == "extra_forbidden":
            keys = allowed(loc[:-1])
            hint = f"; allowed keys here: {', '.join(keys)}" if keys else ""
            problems.append(Problem(loc, f"unknown key {loc[-1]!r}{hint}"))
        elif kind == "missing":
            problems.append(Problem(loc, "required key is missing"))
        elif kind == "value_error":
            problems.append(Problem(loc, str(err["ctx"]["error"])))
        elif kind == "string_pattern_mismatch" and loc[-1] == "id":
            problems.append(Problem(loc, f"{value!r} is not a valid id; {SLUG_HINT}"))
        elif kind == "string_pattern_mismatch" and loc[-1] == "name":
            problems.append(Problem(loc, f"{value!r} has a line break or control character; write the name on one line"))
        elif kind == "literal_error":
            problems.append(Problem(loc, f"{value!r} is not allowed; use one of: {err['ctx']['expected']}"))
        else:
            problems.append(Problem(loc, f"{value!r} is not valid: {err['msg'][0].lower()}{err['msg'][1:]}"))
    return problems


class KindEntry(BaseModel):
    """An `{id, kind, ...}` entry (an actuator, a notifier): keys other than id and kind belong to the
    kind and are validated by validate_kind_entries, which attaches them as `options`."""

    model_config = ConfigDict(extra="allow", frozen=True)  # extra="allow" only until the kind validates them

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kind: str
    _options: Any = PrivateAttr(default=None)

    @property
    def options(self) -> Any:
        assert self._options is not None, "load_config sets options"
        return self._options


def validate_kind_entries(raw: Any, loc: Loc, entries: Sequence[Any] | None, kinds: Mapping[str, Any], noun: str) -> list[Problem]:
    """Check `{id, kind, ...}` entries (actuators, notifiers) against their kind's options model.

    `raw` is the list as read from YAML (so problems are found even when other keys are wrong);
    `entries` the validated models, or None: each valid one gets its options attached as `_options`.
    Ids must be unique too.
    """
    problems: list[Problem] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            continue
        kind = kinds.get(item["kind"])
        if kind is None:
            problems.append(Problem(loc + (i, "kind"), f"{item['kind']!r} is not {noun} kind; use one of: {', '.join(sorted(kinds))}"))
            continue
        try:
            options = kind.config.model_validate({k: v for k, v in item.items() if k not in ("id", "kind")})
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, loc + (i,), lambda _loc, k=kind: ["id", "kind", *k.config.model_fields]))
            continue
        if entries is not None:
            entries[i]._options = options
            if entries[i].__pydantic_extra__:
                entries[i].__pydantic_extra__.clear()  # the kind's keys now live in options
    names = [e.id for e in entries or []]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(Problem(loc + (i, "id"), f"{name!r} is used by another {noun.split()[-1]}; ids must be unique"))
    return problems
