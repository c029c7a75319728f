"""YAML with positions: plain Python data plus where every key and value stands in the file.

The document is composed into ruamel.yaml nodes (libyaml's C parser when ruamel.yaml.clib is
installed, which makes this about ten times faster than a round-trip load; ruamel's pure
Python parser otherwise). Every node carries its line and column; ``parse_yaml`` turns the
node tree into plain dicts, lists and scalars (what pydantic validates) and keeps the
positions in a ``SourceMap`` keyed by path (``("streams", "issues", "request")``).

Syntax errors become ``SpecError("file:line:col: yaml: message")``; every duplicate key is
reported (with the line of its first occurrence). Merge keys (``<<: *defaults``) and aliases
work; lines and columns are 1-based, like editors show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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
    too_deep = _flow_depth_problem(text, filename)
    if too_deep is not None:
        raise SpecError(too_deep, file=filename)
    loader = YAML(typ="safe", pure=False)
    try:
        root = loader.compose(text)
    except MarkedYAMLError as exc:
        raise SpecError(_syntax_problem(exc, filename), file=filename) from None
    except YAMLError as exc:
        raise SpecError(f"{filename}:1:1: yaml: {_one_line(str(exc))}", file=filename) from None
    except RecursionError:
        raise SpecError(f"{filename}:1:1: yaml: {TOO_DEEP}", file=filename) from None
    source = SourceMap(filename)
    if root is None:
        return None, source
    builder = _Builder(source, loader.constructor)
    data = builder.value(root, ())
    if builder.problems:
        raise SpecError(builder.problems, file=filename)
    return data, source


MAX_DEPTH = 64  # provider and mapping files nest a dozen levels; more is a mistake or an attack
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
FLOW_LIMIT = 1000  # brackets open at once, checked before parsing
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


def _flow_depth_problem(text: str, filename: str) -> str | None:
    """A problem when ``[``/``{`` open more than ``FLOW_LIMIT`` levels at once: the C parser
    recurses per level and crashes the process (not an exception) some ten thousand deep.
    Counting every bracket (quoted ones too) only ever overestimates the depth."""
    if text.count("[") + text.count("{") <= FLOW_LIMIT:
        return None
    depth = line = column = 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif char in "[{":
            depth += 1
            if depth > FLOW_LIMIT:
                return f"{filename}:{line + 1}:{column}: yaml: {TOO_DEEP}"
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Plain data from nodes, recording positions and duplicate keys on the way."""

    def __init__(self, source: SourceMap, constructor: Any) -> None:
        self.source = source
        self.constructor = constructor
        self.problems: list[str] = []
        self._open: set[int] = set()  # mappings/sequences being built: a recursive alias

    def value(self, node: Node, path: KeyPath) -> Any:
        if isinstance(node, ScalarNode):
            return node.value if node.tag == _STR else self.scalar(node)
        if len(path) >= MAX_DEPTH:
            self.problem(node, TOO_DEEP)
            return None
        if id(node) in self._open:
            self.problem(node, "an alias refers to a node that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                items = enumerate(self.items(node, path))
                return [self.value(item, (*path, index)) for index, item in items]
            self.problem(node, f"unexpected YAML node {type(node).__name__}")
            return None
        finally:
            self._open.discard(id(node))

    def scalar(self, node: ScalarNode) -> Any:
        try:
            return self.constructor.construct_object(node)
        except MarkedYAMLError as exc:  # an unknown tag (!custom), bad !!binary...
            self.problem(node, _one_line(exc.problem or str(exc)))
            return None

    def items(self, node: SequenceNode, path: KeyPath) -> list[Node]:
        for index, item in enumerate(node.value):
            self.source.values[(*path, index)] = _mark(item)
        return list(node.value)

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first: dict[Any, Mark] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "a key must be a plain value")
                continue
            key = self.value(key_node, path)
            if key in first:
                self.problem(key_node, f"duplicate key '{key}' (first at line {first[key].line})")
                continue
            first[key] = _mark(key_node)
            child = (*path, _path_key(key))
            self.source.keys[child] = first[key]
            self.source.values[child] = _mark(value_node)
            result[key] = self.value(value_node, child)
        for merged in merges:
            self.merge(result, merged, path)
        return result

    def merge(self, result: dict[Any, Any], node: Node, path: KeyPath) -> None:
        """``<<: *anchor`` (or a list of them): keys the mapping does not set itself."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem(source, "a merge key (<<) needs a mapping or a list of mappings")
                continue
            scratch = _Builder(SourceMap(self.source.filename), self.constructor)
            for key, value in scratch.value(source, path).items():
                result.setdefault(key, value)
            self.problems += scratch.problems

    def problem(self, node: Node, message: str) -> None:
        mark = _mark(node)
        self.problems.append(f"{self.source.filename}:{mark.line}:{mark.column}: yaml: {message}")


def _path_key(key: Any) -> PathKey:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def _syntax_problem(exc: MarkedYAMLError, filename: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "; ".join(_one_line(p) for p in parts) or "invalid YAML"
    return f"{filename}:{line}:{column}: yaml: {message}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["TOP", "KeyPath", "Mark", "SourceMap", "parse_yaml"]
