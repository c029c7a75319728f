"""JSONPath, compiled once, with a fast path for plain paths.

``compile_path("$.fields.summary")`` and ``compile_path("fields.summary")`` both take the fast
path: a tuple of keys and indexes walked with dict/list lookups. Anything with wildcards,
recursive descent, filters or slices (``$.issues[*]``, ``$..id``, ``$.t[?(@.to.name == 'Done')]``)
goes to jsonpath-ng's extended parser. Keys with dots or ``@`` are written in brackets:
``$['@odata.nextLink']``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jsonpath_ng.ext.parser import parse as parse_extended

_MISSING = object()
_SEGMENT = re.compile(
    r"""\.(?P<name>[A-Za-z_$][\w$-]*)|\[(?P<index>-?\d+)\]|\[(?P<q>['"])(?P<quoted>.*?)(?P=q)\]"""
)


class JsonPathProblem(ValueError):
    """A path that cannot be parsed."""


class JsonPath:
    """A compiled path: ``values(doc)`` lists matches, ``first(doc)`` the first or a default."""

    __slots__ = ("_compiled", "_keys", "expression")

    def __init__(self, expression: str, keys: tuple[str | int, ...] | None, compiled: Any) -> None:
        self.expression = expression
        self._keys = keys
        self._compiled = compiled

    @property
    def is_simple(self) -> bool:
        return self._keys is not None

    @property
    def keys(self) -> tuple[str | int, ...]:
        if self._keys is None:
            raise JsonPathProblem(f"{self.expression!r} is not a plain path")
        return self._keys

    def values(self, document: Any) -> list[Any]:
        if self._keys is None:
            return [match.value for match in self._compiled.find(document)]
        found = _walk(document, self._keys)
        if found is _MISSING:
            return []
        return [found]

    def first(self, document: Any, default: Any = None) -> Any:
        if self._keys is not None:
            found = _walk(document, self._keys)
            return default if found is _MISSING else found
        matches = self._compiled.find(document)
        return matches[0].value if matches else default

    def set(self, document: dict[str, Any], value: Any) -> None:
        """Write ``value`` at this (plain) path, creating dicts on the way."""
        keys = self.keys
        target: Any = document
        for key in keys[:-1]:
            if isinstance(key, int):
                target = target[key]
                continue
            target = target.setdefault(key, {})
        target[keys[-1]] = value

    def __repr__(self) -> str:
        return f"JsonPath({self.expression!r})"


def _walk(document: Any, keys: tuple[str | int, ...]) -> Any:
    current = document
    for key in keys:
        if isinstance(key, int):
            if not isinstance(current, list) or not -len(current) <= key < len(current):
                return _MISSING
            current = current[key]
        elif isinstance(current, dict):
            current = current.get(key, _MISSING)
            if current is _MISSING:
                return _MISSING
        else:
            return _MISSING
    return current


def _plain_keys(expression: str) -> tuple[str | int, ...] | None:
    text = expression.strip()
    if text in ("$", ""):
        return ()
    if text.startswith("$"):
        text = text[1:]
    elif not text.startswith("["):
        text = "." + text
    keys: list[str | int] = []
    position = 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            return None
        if match["name"] is not None:
            keys.append(match["name"])
        elif match["index"] is not None:
            keys.append(int(match["index"]))
        else:
            keys.append(match["quoted"])
        position = match.end()
    return tuple(keys)


@lru_cache(maxsize=4096)
def compile_path(expression: str) -> JsonPath:
    """Compile a JSONPath (cached); raises JsonPathProblem when it cannot be parsed."""
    keys = _plain_keys(expression)
    if keys is not None:
        return JsonPath(expression, keys, None)
    try:
        compiled = parse_extended(expression)
    except Exception as exc:  # jsonpath-ng raises several unrelated types for bad input
        raise JsonPathProblem(f"invalid JSONPath {expression!r}: {exc}") from None
    return JsonPath(expression, None, compiled)
