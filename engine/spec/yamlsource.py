"""YAML with positions: plain Python data plus where every key and value stands in the file.

ruamel.yaml's round-trip loader records the line and column of each key, value and list item;
``parse_yaml`` turns its tree into plain dicts, lists and scalars (what pydantic validates) and
keeps those positions in a ``SourceMap`` keyed by path (``("streams", "issues", "request")``).
Syntax errors and duplicate keys become ``SpecError("file:line:col: yaml: message")``.
Lines and columns are 1-based, like editors show them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.errors import SpecError

PathKey = str | int
KeyPath = tuple[PathKey, ...]
Anchor = Literal["key", "value"]


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int


TOP = Mark(1, 1)


@dataclass
class SourceMap:
    """Positions of a document's keys and values, by path; unknown paths fall back upward."""

    filename: str
    keys: dict[KeyPath, Mark] = field(default_factory=dict)
    values: dict[KeyPath, Mark] = field(default_factory=dict)

    def locate(self, path: KeyPath, anchor: Anchor = "value") -> Mark:
        """Where ``path`` stands: its value (or its key), else its nearest known ancestor."""
        table = self.keys if anchor == "key" else self.values
        found = table.get(path) or self.keys.get(path) or self.values.get(path)
        if found is not None:
            return found
        for size in range(len(path) - 1, 0, -1):
            parent = path[:size]
            found = self.keys.get(parent) or self.values.get(parent)
            if found is not None:
                return found
        return TOP

    def where(self, path: KeyPath, anchor: Anchor = "value") -> str:
        """``file:line:col`` of ``path``."""
        mark = self.locate(path, anchor)
        return f"{self.filename}:{mark.line}:{mark.column}"


def parse_yaml(text: str, filename: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its ``SourceMap``."""
    loader = YAML(typ="rt")
    try:
        tree = loader.load(text)
    except DuplicateKeyError as exc:
        raise SpecError(_duplicate_problem(exc, filename), file=filename) from None
    except MarkedYAMLError as exc:
        raise SpecError(_syntax_problem(exc, filename), file=filename) from None
    except YAMLError as exc:
        raise SpecError(f"{filename}:1:1: yaml: {_one_line(str(exc))}", file=filename) from None
    source = SourceMap(filename)
    return _plain(tree, (), source), source


def _plain(node: Any, path: KeyPath, source: SourceMap) -> Any:
    """Copy a round-trip tree into plain containers, recording positions on the way."""
    if isinstance(node, CommentedMap):
        result: dict[Hashable, Any] = {}
        for key, value in node.items():
            child = (*path, _path_key(key))
            position = node.lc.data.get(key)
            if position is not None:
                source.keys[child] = Mark(position[0] + 1, position[1] + 1)
                source.values[child] = Mark(position[2] + 1, position[3] + 1)
            result[_scalar(key)] = _plain(value, child, source)
        return result
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            child = (*path, index)
            position = node.lc.data.get(index)
            if position is not None:
                source.values[child] = Mark(position[0] + 1, position[1] + 1)
            items.append(_plain(value, child, source))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses (ScalarFloat, LiteralScalarString...) as builtins."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, date):
        return value  # an unquoted date; the spec wants strings and says so
    return value


def _path_key(key: Any) -> PathKey:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def _syntax_problem(exc: MarkedYAMLError, filename: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "; ".join(_one_line(p) for p in parts) or "invalid YAML"
    return f"{filename}:{line}:{column}: yaml: {message}"


def _duplicate_problem(exc: DuplicateKeyError, filename: str) -> str:
    mark = exc.problem_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = _one_line(exc.problem or "")
    # ruamel says: found duplicate key "name" with value "b" (original value: "a")
    key = problem.split('"')[1] if problem.count('"') >= 2 else problem
    first = exc.context_mark
    within = f" in the mapping starting at line {first.line + 1}" if first is not None else ""
    return f"{filename}:{line}:{column}: yaml: duplicate key '{key}'{within}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["TOP", "KeyPath", "Mark", "SourceMap", "parse_yaml"]
