"""Checks pydantic cannot make: templates, JSONPaths and references between parts of a spec.

Every template string is compiled into the provider's ``Templates`` and the names it uses are
checked against the names its place offers (``engine.spec.models.PLACES``):

    base_url, headers                               provider
    auth_modes.*.auth                               auth
    streams.*.request, streams.*.pagination         stream.request
    streams.*.partitions                            stream.partitions
    streams.*.record_filter, streams.*.parent.when  stream.filter
    test_connection.request                         test_connection
    test_connection.success_when                    test_connection.success
    writes.*.*.steps[*] (request, when)             write
    writes.*.*.steps[*].extract, writes.*.*.{id,key,url,updated_at,record}   write.extract
    webhooks (signature, handshakes, replay_timestamp, delivery_id, event_type)  webhook
    webhooks.batch, webhooks.events[*]              webhook.event (routed from stored deliveries)
    webhooks.register.{create,delete}               like writes
    errors[*]                                       error

Every JSONPath is compiled (records_path, primary_key, updated_path, cursor.field,
identity_path, and every ``*_path`` key inside a strategy block). References must resolve:
parent and partition streams exist and form no cycle, webhook events name existing streams,
writes name known entities, ``webhooks.secret_field`` is a credential field.

The checks read the plain data, defensively, so they run (and report) even when pydantic has
found problems elsewhere in the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from engine.jsonpath import JsonPathProblem, compile_path
from engine.spec.models import PLACES
from engine.spec.problems import Problem
from engine.spec.yamlsource import Anchor, KeyPath
from engine.templating import TemplateProblem, Templates

WRITE_ENTITIES = ("comment", "project", "user", "work_item")
_WRITE_RESULT = ("id", "key", "url", "updated_at", "record")
_WEBHOOK_TEMPLATES = ("replay_timestamp", "delivery_id", "event_type")


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _leaves(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str, Anchor]]:
    """Every string leaf of a nested structure (and template-looking keys)."""
    if isinstance(value, str):
        yield path, value, "value"
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and ("{{" in key or "{%" in key):
                yield (*path, key), key, "key"
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


class SpecChecker:
    """Collects the problems of one provider's plain data, compiling into ``templates``."""

    def __init__(self, data: Any, templates: Templates, expected_name: str | None = None):
        self.data = _mapping(data)
        self.templates = templates
        self.expected_name = expected_name
        self.problems: list[Problem] = []

    def run(self) -> list[Problem]:
        self._provider()
        self._streams()
        self._test_connection()
        self._writes()
        self._webhooks()
        self._errors()
        return self.problems

    # -- primitives ------------------------------------------------------------------------

    def templates_at(self, value: Any, path: KeyPath, place: str) -> None:
        allowed = PLACES[place]
        for where, source, anchor in _leaves(value, path):
            try:
                self.templates.compile(source, allowed)
            except TemplateProblem as exc:
                self.problems.append(Problem(where, str(exc), anchor))

    def jsonpath_at(self, value: Any, path: KeyPath) -> None:
        if not isinstance(value, str):
            return
        try:
            compile_path(value)
        except JsonPathProblem as exc:
            self.problems.append(Problem(path, str(exc)))

    def strategy_paths(self, block: Any, path: KeyPath) -> None:
        """Compile every ``*_path`` value inside a strategy block as a JSONPath."""
        for key, value in _mapping(block).items():
            where = (*path, key)
            if isinstance(key, str) and key.endswith("_path"):
                for index, item in enumerate(_listed(value)):
                    self.jsonpath_at(item, (*where, index))
                self.jsonpath_at(value, where)
            elif isinstance(value, dict):
                self.strategy_paths(value, where)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    self.strategy_paths(item, (*where, index))

    def reference(
        self, name: Any, path: KeyPath, known: list[str], what: str, anchor: Anchor = "value"
    ) -> None:
        if isinstance(name, str) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            choices = ", ".join(sorted(known)) or "(none declared)"
            message = f"unknown {what} '{name}'; {hint}valid: {choices}"
            self.problems.append(Problem(path, message, anchor))

    # -- sections --------------------------------------------------------------------------

    def _provider(self) -> None:
        name = self.data.get("name")
        if self.expected_name is not None and isinstance(name, str) and name != self.expected_name:
            self.problems.append(
                Problem(("name",), f"'{name}' does not match the file name '{self.expected_name}'")
            )
        self.templates_at(self.data.get("base_url"), ("base_url",), "provider")
        self.templates_at(self.data.get("headers"), ("headers",), "provider")
        for mode, spec in _mapping(self.data.get("auth_modes")).items():
            auth = _mapping(spec).get("auth")
            self.templates_at(auth, ("auth_modes", mode, "auth"), "auth")
            self.strategy_paths(auth, ("auth_modes", mode, "auth"))

    def _streams(self) -> None:
        streams = _mapping(self.data.get("streams"))
        names = [str(n) for n in streams]
        for name, stream in streams.items():
            self._stream(_mapping(stream), ("streams", name), names)
        for cycle in stream_cycles(streams):
            first = _mapping(streams.get(cycle[0]))
            link = next(k for k in ("parent", "partitions") if _dependency(first, k) == cycle[1])
            message = f"streams depend on each other in a cycle: {' -> '.join(cycle)}"
            self.problems.append(Problem(("streams", cycle[0], link, "stream"), message))

    def _stream(self, stream: dict[Any, Any], path: KeyPath, names: list[str]) -> None:
        self.templates_at(stream.get("request"), (*path, "request"), "stream.request")
        self.templates_at(stream.get("pagination"), (*path, "pagination"), "stream.request")
        self.strategy_paths(stream.get("pagination"), (*path, "pagination"))
        self.templates_at(stream.get("partitions"), (*path, "partitions"), "stream.partitions")
        self.templates_at(stream.get("record_filter"), (*path, "record_filter"), "stream.filter")
        parent = _mapping(stream.get("parent"))
        self.templates_at(parent.get("when"), (*path, "parent", "when"), "stream.filter")
        for key in ("records_path", "primary_key", "updated_path"):
            self.jsonpath_at(stream.get(key), (*path, key))
        cursor = _mapping(stream.get("cursor"))
        self.jsonpath_at(cursor.get("field"), (*path, "cursor", "field"))
        self.reference(parent.get("stream"), (*path, "parent", "stream"), names, "stream")
        partitions = _mapping(stream.get("partitions"))
        self.reference(partitions.get("stream"), (*path, "partitions", "stream"), names, "stream")

    def _test_connection(self) -> None:
        test = _mapping(self.data.get("test_connection"))
        path: KeyPath = ("test_connection",)
        self.templates_at(test.get("request"), (*path, "request"), "test_connection")
        success = test.get("success_when")
        self.templates_at(success, (*path, "success_when"), "test_connection.success")
        self.jsonpath_at(test.get("identity_path"), ("test_connection", "identity_path"))

    def _writes(self) -> None:
        for entity, operations in _mapping(self.data.get("writes")).items():
            path: KeyPath = ("writes", entity)
            self.reference(entity, path, list(WRITE_ENTITIES), "write entity", "key")
            for operation, write in _mapping(operations).items():
                self.write(_mapping(write), (*path, operation))

    def write(self, write: dict[Any, Any], path: KeyPath) -> None:
        for index, step in enumerate(_listed(write.get("steps"))):
            where = (*path, "steps", index)
            step = _mapping(step)
            self.templates_at(step.get("request"), (*where, "request"), "write")
            self.templates_at(step.get("when"), (*where, "when"), "write")
            extract = _mapping(step.get("extract"))
            self.templates_at(extract, (*where, "extract"), "write.extract")
            self.required(step.get("require"), (*where, "require"), list(extract))
        for key in _WRITE_RESULT:
            self.templates_at(write.get(key), (*path, key), "write.extract")

    def required(self, require: Any, path: KeyPath, extracted: list[str]) -> None:
        """``require``: names of ``extract`` (a list, or a mapping to failure messages)."""
        for position, name in enumerate(_listed(require)):
            self.reference(name, (*path, position), extracted, "extracted name")
        for name, message in _mapping(require).items():
            self.reference(name, (*path, name), extracted, "extracted name", "key")
            self.templates_at(message, (*path, name), "write")

    def _webhooks(self) -> None:
        webhooks = _mapping(self.data.get("webhooks"))
        for key in ("signature", "handshakes", *_WEBHOOK_TEMPLATES):
            self.templates_at(webhooks.get(key), ("webhooks", key), "webhook")
        self.templates_at(webhooks.get("batch"), ("webhooks", "batch"), "webhook.event")
        self.strategy_paths(webhooks.get("signature"), ("webhooks", "signature"))
        for index, handshake in enumerate(_listed(webhooks.get("handshakes"))):
            self.strategy_paths(handshake, ("webhooks", "handshakes", index))
        streams = [str(n) for n in _mapping(self.data.get("streams"))]
        for index, event in enumerate(_listed(webhooks.get("events"))):
            path: KeyPath = ("webhooks", "events", index)
            event = _mapping(event)
            for key in ("match", "records"):
                self.templates_at(event.get(key), (*path, key), "webhook.event")
            self.reference(event.get("stream"), (*path, "stream"), streams, "stream")
        register = _mapping(webhooks.get("register"))
        for key in ("create", "delete"):
            self.write(_mapping(register.get(key)), ("webhooks", "register", key))
        fields = credential_fields(self.data)
        secret = webhooks.get("secret_field")
        self.reference(secret, ("webhooks", "secret_field"), fields, "credential field")

    def _errors(self) -> None:
        for index, rule in enumerate(_listed(self.data.get("errors"))):
            rule = _mapping(rule)
            for key in ("when", "message", "retry_after"):
                self.templates_at(rule.get(key), ("errors", index, key), "error")


def credential_fields(data: dict[Any, Any]) -> list[str]:
    """Every credential field name declared by any auth mode."""
    names: list[str] = []
    for mode in _mapping(data.get("auth_modes")).values():
        for field in _listed(_mapping(mode).get("fields")):
            name = _mapping(field).get("name")
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def stream_cycles(streams: dict[Any, Any]) -> list[list[str]]:
    """Cycles through ``parent.stream`` / ``partitions.stream``, each once."""
    edges: dict[str, list[str]] = {}
    for name, stream in streams.items():
        stream = _mapping(stream)
        targets = [_dependency(stream, k) for k in ("parent", "partitions")]
        edges[str(name)] = [t for t in targets if isinstance(t, str) and t in streams]
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in edges:
        cycle = _cycle_from(start, edges)
        if cycle and frozenset(cycle) not in seen and cycle[0] == start:
            seen.add(frozenset(cycle))
            cycles.append([*cycle, start])
    return cycles


def _dependency(stream: dict[Any, Any], key: str) -> Any:
    return _mapping(stream.get(key)).get("stream")


def _cycle_from(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    """The path from ``start`` back to itself, if any (depth-first)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for target in edges.get(node, []):
            if target == start:
                return trail
            if target not in visited:
                visited.add(target)
                stack.append((target, [*trail, target]))
    return None


def check_spec(data: Any, templates: Templates, expected_name: str | None = None) -> list[Problem]:
    """Every semantic problem of a provider's plain data (templates compiled on the way)."""
    return SpecChecker(data, templates, expected_name).run()


__all__ = ["WRITE_ENTITIES", "SpecChecker", "check_spec", "credential_fields", "stream_cycles"]
