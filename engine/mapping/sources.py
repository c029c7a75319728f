"""A *source*: a JSONPath into a document or a template, compiled once.

Mapping YAML uses the same key for both (``url: html_url`` or
``id: "{{ record.key }}"``): text containing ``{{``/``{%`` is a template rendered with the
place's names, anything else a JSONPath read from the document the caller hands over (the
record, the stream root, a user object).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.jsonpath import JsonPath, compile_path
from engine.templating import CompiledTemplate, Templates, is_template


class Source:
    """``get(document, context)``: the path's first match, or the template rendered over
    ``context``. With ``many``, a wildcard path (``labels[*].name``) yields every match."""

    __slots__ = ("_spread", "many", "path", "template", "text", "where")

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
        self.many = many
        self.template: CompiledTemplate | None = None
        self.path: JsonPath | None = None
        self._spread: tuple[JsonPath, JsonPath] | None = None
        if is_template(text):
            self.template = templates.compile(text, allowed)
        else:
            self.path = compile_path(text)
            self._spread = _spread(text) if many else None

    def get(self, document: Any, context: Mapping[str, Any]) -> Any:
        if self.template is not None:
            return self.template.render(context, self.where)
        assert self.path is not None
        if self._spread is not None:
            return _spread_values(self._spread, document)
        if self.many and not self.path.is_simple:
            return self.path.values(document)  # "labels[*].name": every match
        return self.path.first(document)

    @property
    def plain_path(self) -> JsonPath | None:
        """The path when it is a plain dotted one (writable with ``JsonPath.set``)."""
        if self.path is not None and self.path.is_simple and self.path.keys:
            return self.path
        return None

    def __repr__(self) -> str:
        return f"Source({self.text!r})"


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
    items = paths[0].first(document)
    if not isinstance(items, list):
        return []
    found = (paths[1].first(item, _ABSENT) for item in items)
    return [value for value in found if value is not _ABSENT]
