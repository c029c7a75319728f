"""A *source*: a JSONPath into a document or a template, compiled once.

Mapping YAML uses the same key for both (``url: html_url`` or
``id: "{{ record.key }}"``): text containing ``{{``/``{%`` is a template rendered with the
place's names, anything else a JSONPath read from the document the caller hands over (the
record, the stream root, a user object).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from engine.jsonpath import JsonPath, compile_path
from engine.templating import CompiledTemplate, Templates, is_template


class Source:
    """``get(document, context)``: the path's first match, or the template rendered over
    ``context``. With ``many``, a wildcard path (``labels[*].name``) yields every match.

    ``get`` is a function chosen once for the source's shape (a template, a one-key path, a
    dotted path, a spread ``list[*].key``, a jsonpath-ng path): records are read at the
    rate pages arrive, so no per-call dispatch.
    """

    __slots__ = ("_many", "_spread", "get", "path", "template", "text", "where")

    def __init__(
        self,
        text: str,
        templates: Templates,
        allowed: frozenset[str],
        where: str,
        *,
        many: bool = False,
    ) -> None:
        self.text = text
        self.where = where
        self.template: CompiledTemplate | None = None
        self.path: JsonPath | None = None
        self._spread: tuple[JsonPath, JsonPath] | None = None
        if is_template(text):
            self.template = templates.compile(text, allowed)
        else:
            self.path = compile_path(text)
        self.many = many

    @property
    def many(self) -> bool:
        return self._many

    @many.setter
    def many(self, value: bool) -> None:
        self._many = value
        if self.path is not None:
            self._spread = _spread(self.text) if value else None
        self.get: Callable[[Any, Mapping[str, Any]], Any] = self._getter()

    def _getter(self) -> Callable[[Any, Mapping[str, Any]], Any]:
        if self.template is not None:
            template, where = self.template, self.where
            return lambda _document, context: template.render(context, where)
        path = self.path
        assert path is not None
        if self._spread is not None:
            spread = self._spread
            return lambda document, _context: _spread_values(spread, document)
        if self._many and not path.is_simple:
            return lambda document, _context: path.values(document)  # "labels[*].name"
        if path.is_simple and path.keys and all(isinstance(k, str) for k in path.keys):
            return _dict_keys(tuple(str(k) for k in path.keys), path)
        return lambda document, _context: path.first(document)

    @property
    def plain_path(self) -> JsonPath | None:
        """The path when it is a plain dotted one (writable with ``JsonPath.set``)."""
        if self.path is not None and self.path.is_simple and self.path.keys:
            return self.path
        return None

    def __repr__(self) -> str:
        return f"Source({self.text!r})"


def _dict_keys(keys: tuple[str, ...], path: JsonPath) -> Callable[[Any, Mapping[str, Any]], Any]:
    """``title``, ``milestone.due_on``: dict lookups; anything that is not a dict on the
    way goes through the path (which answers None where a key is missing)."""
    if len(keys) == 1:
        key = keys[0]

        def one(document: Any, _context: Mapping[str, Any]) -> Any:
            if type(document) is dict:
                return document.get(key)
            return path.first(document)

        return one

    def walk(document: Any, _context: Mapping[str, Any]) -> Any:
        value = document
        for key in keys:
            if type(value) is not dict:
                return None if value is None else path.first(document)
            value = value.get(key)
        return value

    return walk


_SPREAD = re.compile(r"^(?P<list>[^\[\]*?]+)\[\*\]\.(?P<item>[^\[\]*?]+)$")


def _spread(text: str) -> tuple[JsonPath, JsonPath] | None:
    """``labels[*].name`` as two plain paths (the common case, without jsonpath-ng)."""
    match = _SPREAD.match(text.strip())
    if match is None:
        return None
    outer, inner = compile_path(match["list"]), compile_path(match["item"])
    if not (outer.is_simple and inner.is_simple and outer.keys and inner.keys):
        return None
    return outer, inner


_ABSENT = object()


def _spread_values(paths: tuple[JsonPath, JsonPath], document: Any) -> list[Any]:
    outer = paths[0].keys
    if len(outer) == 1 and type(document) is dict:
        items = document.get(outer[0])
    else:
        items = paths[0].first(document)
    if isinstance(items, dict):  # like jsonpath-ng, `[*]` over a mapping spreads its values
        items = list(items.values())
    elif not isinstance(items, list):
        return []
    inner = paths[1]
    if len(inner.keys) == 1 and all(type(item) is dict for item in items):
        key = inner.keys[0]
        return [item[key] for item in items if key in item]
    found = (inner.first(item, _ABSENT) for item in items)
    return [value for value in found if value is not _ABSENT]
