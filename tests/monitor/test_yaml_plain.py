"""The fast reader of plain YAML gives yaml.safe_load's data, or leaves the text to the ordinary reader."""

from __future__ import annotations

import pytest
import yaml

from monitor.config_errors import load_yaml
from monitor.yaml_plain import Unsupported, load_plain

PLAIN = [
    "",
    "a: 1",
    "--- 5",
    "a: yes\nb: ~\nc: 2026-01-01\nd: 1:30\ne: 0x1f\nf: .inf\ng: '1'\nh: 1e3\ni: [1, {j: k}]\nk:\n",
    "{a: 1, b: null, '': 3}",
    'a: "\\u00e9"\nb: |\n  x\n  y\n',
    "channels:\n- id: shop\n  checks:\n  - {kind: http, target: 'https://a.example/'}\n  - {kind: http, target: 'https://b.example/'}\n",
]
NOT_PLAIN = [
    "a: 1\na: 2",  # a repeated key: the strict reader refuses it, with its line
    "1: a\n1.0: b",  # equal keys too
    "x: &a 1\ny: *a",
    "- !!str 1",
    "<<: {a: 1}",
    "---\na: 1\n---\nb: 2",
    "a: [",
    "? [1]\n: 2",
    "a: 2026-13-45",
    "a: !x 1",
    "a: =\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_reads_as_safe_load_reads_it(text):
    assert load_plain(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_anything_else_is_left_to_the_ordinary_reader(text):
    with pytest.raises(Unsupported):
        load_plain(text)


def test_load_yaml_gives_the_node_tree_only_when_it_read_the_ordinary_way():
    assert load_yaml("a: 1") == ({"a": 1}, None)
    data, node = load_yaml("x: &a 1\ny: *a")
    assert data == {"x": 1, "y": 1} and node is not None


def test_equal_scalars_are_one_object():
    data = load_plain("- {kind: http, interval: 10s}\n- {kind: http, interval: 10s}\n")
    assert data[0]["interval"] is data[1]["interval"] and list(data[0])[0] is list(data[1])[0]
