"""A fast reader for the plain YAML most config files are: LibYAML's events straight into dicts and lists.

PyYAML's loaders first compose the whole document into a tree of nodes, two position marks each, and only
then construct the data. At 10,000 checks that tree took 1.1 s (the composer calls back into Python for
every node) and over 100 MB at its peak, more than the data and the models together. Here each event
becomes data at once, so no tree is ever held; equal scalars share one object (the same "http" or "10s"
ten thousand times over), which keeps both the data and the models made from it smaller.

Only the plain subset is read here: no anchors, aliases, explicit tags, merge keys, repeated keys or
collections as keys, one document. Anything else, and any error, raises Unsupported, and the caller reads
the text the ordinary way, which then gives exactly the data or the error it always gave. Scalars resolve
and construct with PyYAML's own SafeLoader functions, so `10`, `yes`, `~` or `2026-01-01` mean what
they mean there.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALARS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null", "timestamp"))


class Unsupported(Exception):
    """The text is not in the plain subset (or not valid): read it the ordinary way."""


def load_plain(text: str) -> Any:
    """The data of a plain one-document YAML text, as yaml.safe_load gives it; raise Unsupported otherwise."""
    if not yaml.__with_libyaml__:
        raise Unsupported("PyYAML without LibYAML")
    loader = yaml.CSafeLoader(text)
    try:
        return _Reader(loader).stream()
    except Unsupported:
        raise
    except Exception as exc:  # a YAML error or a scalar its constructor refuses: the ordinary reader reports it
        raise Unsupported(str(exc)) from exc
    finally:
        loader.dispose()


class _Reader:
    def __init__(self, loader: Any) -> None:
        if loader.yaml_path_resolvers:
            raise Unsupported("path resolvers")
        self.loader = loader
        self.next = loader.get_event
        # (value, plain) -> the constructed scalar, shared by every equal one
        self.scalars: dict[tuple[str, bool], Any] = {}

    def stream(self) -> Any:
        self._expect(yaml.StreamStartEvent)
        event = self.next()
        if isinstance(event, yaml.StreamEndEvent):
            return None  # an empty file: no document, as get_single_node says
        if not isinstance(event, yaml.DocumentStartEvent):
            raise Unsupported("no document")
        data = self._node(self.next())
        self._expect(yaml.DocumentEndEvent)
        self._expect(yaml.StreamEndEvent)  # a second document is an error the ordinary reader words
        return data

    def _expect(self, kind: type) -> None:
        if not isinstance(self.next(), kind):
            raise Unsupported(f"expected {kind.__name__}")

    def _node(self, event: Any) -> Any:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            return self._scalar(event)
        if event.anchor is not None or kind is yaml.AliasEvent:
            raise Unsupported("anchors and aliases")
        if kind is yaml.MappingStartEvent:
            return self._mapping(event)
        if kind is yaml.SequenceStartEvent:
            return self._sequence(event)
        raise Unsupported(f"unexpected {kind.__name__}")

    def _scalar(self, event: Any) -> Any:
        if event.anchor is not None or event.tag is not None:
            raise Unsupported("anchors and explicit tags")
        key = (event.value, event.implicit[0])
        try:
            return self.scalars[key]
        except KeyError:
            pass
        tag = self.loader.resolve(ScalarNode, event.value, event.implicit)
        if tag == _STR:
            value = event.value
        elif tag in _SCALARS:
            value = self.loader.yaml_constructors[tag](self.loader, ScalarNode(tag, event.value))
        else:
            raise Unsupported(f"scalar tag {tag}")  # '<<' (merge), '=' (value) and the like
        self.scalars[key] = value
        return value

    def _mapping(self, event: Any) -> dict:
        if event.tag is not None or self.loader.resolve(MappingNode, None, event.implicit) != _MAP:
            raise Unsupported("tagged mapping")
        data: dict = {}
        while True:
            event = self.next()
            if type(event) is yaml.MappingEndEvent:
                return data
            if type(event) is not yaml.ScalarEvent:
                raise Unsupported("a collection or alias as a key")
            key = self._scalar(event)
            if key in data:
                raise Unsupported("a key given twice")  # the ordinary reader says which and where
            data[key] = self._node(self.next())

    def _sequence(self, event: Any) -> list:
        if event.tag is not None or self.loader.resolve(SequenceNode, None, event.implicit) != _SEQ:
            raise Unsupported("tagged sequence")
        items = []
        while True:
            event = self.next()
            if type(event) is yaml.SequenceEndEvent:
                return items
            items.append(self._node(event))
