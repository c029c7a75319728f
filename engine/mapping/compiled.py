"""A mapping compiled for use: sources, value maps and templates built once.

``compile_mapping(spec, provider)`` checks a ``MappingSpec`` against the provider it maps
(streams exist, Kiro fields exist, paths parse, templates use only their place's names) and
returns a ``Mapping``, or raises ``MappingProblems`` listing every finding with its key path.
``Mapping.with_field_mappings`` applies an integration's ``fieldMappings`` on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from engine.jsonpath import JsonPath, JsonPathProblem, compile_path
from engine.mapping.fields import KiroField, canonical, coercer, resolve_field
from engine.mapping.filters import MAPPING_FILTERS
from engine.mapping.sources import Source
from engine.mapping.spec import MAPPING_PLACES, FieldSpec, MappingSpec, StreamMapping, UserSpec
from engine.spec.models import ProviderSpec
from engine.templating import CompiledTemplate, TemplateProblem, Templates

KeyPath = tuple[str | int, ...]


class MappingProblems(ValueError):
    """Every problem found while compiling a mapping, as (key path, message) pairs."""

    def __init__(self, problems: list[tuple[KeyPath, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, p))}: {m}" for p, m in problems))


@dataclass(frozen=True, slots=True)
class UserRef:
    """A provider user as Kiro will know it: by email (lower-cased)."""

    email: str
    name: str | None = None


class CompiledUser:
    def __init__(self, spec: UserSpec, templates: Templates, where: str) -> None:
        allowed = MAPPING_PLACES["mapping.user"]
        self.email = Source(spec.email, templates, allowed, f"{where}.email")
        self.name = Source(spec.name, templates, allowed, f"{where}.name") if spec.name else None
        self.fallback = (
            templates.compile(spec.fallback_email, allowed) if spec.fallback_email else None
        )
        self.where = where

    def ref(self, obj: Any, record: Any, config: Any) -> UserRef | None:
        if not isinstance(obj, dict):
            return None
        context = {"user": obj, "record": record, "config": config}
        email = self.email.get(obj, context)
        if not email and self.fallback is not None:
            email = self.fallback.render(context, f"{self.where}.fallback_email")
        if not email:
            return None
        name = self.name.get(obj, context) if self.name else None
        return UserRef(str(email).strip().lower(), None if name is None else str(name))


class CompiledField:
    """One Kiro field of a stream: read, value-map and coerce in; map and render out."""

    def __init__(self, kiro: KiroField, spec: FieldSpec, templates: Templates, where: str):
        self.kiro = kiro
        self.spec = spec
        self.name = kiro.name
        record_names = MAPPING_PLACES["mapping.record"]
        reader = spec.inbound or spec.path
        many = spec.list and spec.inbound is None
        self.read = Source(reader, templates, record_names, where, many=many) if reader else None
        self.out_path = _out_path(spec)
        self.out_template: CompiledTemplate | None = (
            templates.compile(spec.outbound, MAPPING_PLACES["mapping.outbound"])
            if spec.outbound
            else None
        )
        self.user = CompiledUser(spec.user, templates, f"{where}.user") if spec.user else None
        self._in_map = _keyed(spec.values or {})
        self._out_map = _inverse(spec.values or {}) | dict(spec.outbound_values or {})
        self._lossy = bool(spec.values or spec.outbound_values or spec.outbound_default is not None)
        self.where = where
        self._coerce = coercer(kiro.kind)
        self._listy = spec.list or kiro.kind == "tags"
        self._default = spec.default

    @property
    def inbound(self) -> bool:
        return self.spec.direction != "outbound_only"

    @property
    def outbound(self) -> bool:
        return self.spec.direction != "inbound_only"

    def read_in(self, root: Any, record: Any, context: dict[str, Any]) -> Any:
        """The field's Kiro value from a record whose field root is ``root`` (a ``UserRef``
        or None for user fields)."""
        raw = self.read.get(root, context) if self.read is not None else None
        if self.user is None:
            return self.to_kiro(raw)
        if isinstance(raw, list):  # several assignees: Kiro has one, the first wins
            raw = raw[0] if raw else None
        return self.user.ref(raw, record, context["config"])

    def to_kiro(self, raw: Any) -> Any:
        """A provider value (after reading) as the Kiro value (users stay UserRefs)."""
        if self.kiro.kind == "user":
            return raw
        if isinstance(raw, list) and self._listy:
            if self._in_map:
                value: Any = [self._in_one(item, keep=True) for item in raw]
            else:  # what _in_one does without a value map
                value = [self._default if item is None else item for item in raw]
        elif raw is None:
            value = self._default
        elif self._in_map:
            value = self._in_one(raw, keep=False)
        else:
            value = raw
        return self._coerce(self.kiro, value)

    def to_external(self, value: Any) -> Any:
        """A Kiro value (canonical form) as the provider value, before ``outbound``."""
        if isinstance(value, list):
            return [self._out_one(item) for item in value]
        return self._out_one(value)

    def roundtrip(self, value: Any) -> Any:
        """What a canonical Kiro value comes back as after going out and in again."""
        if not self._lossy or self.kiro.kind == "user":
            return value
        return canonical(self.kiro, self.to_kiro(self.to_external(value)))

    def _in_one(self, raw: Any, keep: bool) -> Any:
        if raw is None:
            return self.spec.default
        if not self._in_map:
            return raw
        found = _lookup(self._in_map, raw)
        if found is not _MISSING:
            return found
        if keep or self.spec.default is None:
            return raw
        return self.spec.default

    def _out_one(self, value: Any) -> Any:
        if value is None:
            return self.spec.outbound_default
        found = _lookup(self._out_map, value) if self._out_map else _MISSING
        if found is not _MISSING:
            return found
        return value if self.spec.outbound_default is None else self.spec.outbound_default


_MISSING = object()


def _keyed(values: MappingABC[str, Any]) -> dict[str, Any]:
    table = {str(k): v for k, v in values.items()}
    for key, value in list(table.items()):
        table.setdefault(key.casefold(), value)
    return table


def _inverse(values: MappingABC[str, Any]) -> dict[str, Any]:
    inverse: dict[str, Any] = {}
    for external, kiro in values.items():
        inverse.setdefault(str(kiro), external)  # the first provider value per Kiro value
    return inverse


def _lookup(table: dict[str, Any], value: Any) -> Any:
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if key in table:
        return table[key]
    return table.get(key.casefold(), _MISSING)


def _out_path(spec: FieldSpec) -> JsonPath | None:
    text = spec.outbound_path or spec.path
    if not text or spec.direction == "inbound_only":
        return None
    path = compile_path(text)
    return path if path.is_simple and path.keys else None


@dataclass
class CompiledStream:
    """A provider stream mapped to a Kiro entity."""

    name: str
    spec: StreamMapping
    root: JsonPath
    id: Source
    key: Source | None
    url: Source | None
    updated: Source | None
    created: Source | None
    work_item: Source | None
    deleted_when: CompiledTemplate | None
    filters: dict[str, Source]
    create_fields: list[tuple[JsonPath, CompiledTemplate]]
    fields: dict[str, CompiledField] = field(default_factory=dict)
    _field_sets: dict[tuple[str, frozenset[str] | None], list[CompiledField]] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def entity(self) -> str:
        return self.spec.entity

    def field_set(
        self, direction: str, options: Iterable[str] | None = None
    ) -> list[CompiledField]:
        """Fields that go ``in`` or ``out``, limited to those whose option is on (a shared
        list, computed once per direction and set of options: do not change it)."""
        if options is not None and not isinstance(options, frozenset):
            options = frozenset(options)
        key = (direction, options)
        chosen = self._field_sets.get(key)
        if chosen is None:
            enabled = key[1]
            chosen = [
                item
                for item in self.fields.values()
                if (item.spec.option is None or enabled is None or item.spec.option in enabled)
                and (item.inbound if direction == "in" else item.outbound)
            ]
            self._field_sets[key] = chosen
        return chosen


@dataclass
class Mapping:
    """A compiled mapping: ``streams`` by provider stream name."""

    provider: str
    spec: MappingSpec
    streams: dict[str, CompiledStream]
    templates: Templates
    provider_spec: ProviderSpec | None = None

    def stream(self, name: str) -> CompiledStream | None:
        return self.streams.get(name)

    def export_stream(self, entity: str) -> CompiledStream | None:
        """The stream whose outbound map exports ``entity`` (the first one marked export)."""
        for stream in self.streams.values():
            if stream.entity == entity and stream.spec.export:
                return stream
        return None

    def with_field_mappings(self, field_mappings: MappingABC[str, str]) -> Mapping:
        """This mapping with an integration's ``fieldMappings`` applied (see overrides)."""
        from engine.mapping.overrides import apply_field_mappings

        return apply_field_mappings(self, field_mappings)


def compile_mapping(
    spec: MappingSpec, provider: ProviderSpec | None, templates: Templates | None = None
) -> Mapping:
    """Compile and cross-check ``spec``; raise MappingProblems listing every finding."""
    templates = templates or Templates(filters=MAPPING_FILTERS)
    problems: list[tuple[KeyPath, str]] = []
    if provider is not None and spec.provider != provider.name:
        problems.append((("provider",), f"names {spec.provider!r}, not {provider.name!r}"))
    streams: dict[str, CompiledStream] = {}
    for name, stream in spec.streams.items():
        compiled = _compile_stream(name, stream, provider, templates, problems)
        if compiled is not None:
            streams[name] = compiled
    if problems:
        raise MappingProblems(problems)
    return Mapping(spec.provider, spec, streams, templates, provider)


def _compile_stream(
    name: str,
    spec: StreamMapping,
    provider: ProviderSpec | None,
    templates: Templates,
    problems: list[tuple[KeyPath, str]],
) -> CompiledStream | None:
    where: KeyPath = ("streams", name)
    provided = provider.streams.get(name) if provider is not None else None
    if provider is not None and provided is None:
        valid = ", ".join(sorted(provider.streams))
        problems.append((where, f"{provider.name} has no stream {name!r}; streams: {valid}"))
        return None
    defaults = _stream_defaults(provided)
    build = _Builder(templates, problems, where)
    id_source = build.source(spec.id or defaults["id"], "id")
    stream = CompiledStream(
        name=name,
        spec=spec,
        root=build.path(spec.root, "root") or compile_path("$"),
        id=id_source or Source("id", templates, frozenset(), f"{name}.id"),
        key=build.source(spec.key, "key"),
        url=build.source(spec.url, "url"),
        updated=build.source(spec.updated or defaults["updated"], "updated"),
        created=build.source(spec.created, "created"),
        work_item=build.source(spec.work_item, "work_item"),
        deleted_when=build.template(spec.deleted_when, "deleted_when"),
        filters=build.filters(spec),
        create_fields=build.create_fields(spec.create_fields),
    )
    for kiro_name, field_spec in spec.fields.items():
        compiled = build.field(spec.entity, kiro_name, field_spec)
        if compiled is not None:
            _add_field(stream, compiled, problems, (*where, "fields", kiro_name))
    return stream


def _add_field(
    stream: CompiledStream, item: CompiledField, problems: list[tuple[KeyPath, str]], at: KeyPath
) -> None:
    if item.name in stream.fields:
        problems.append((at, f"maps {item.name!r} a second time (through an alias)"))
        return
    stream.fields[item.name] = item


def _stream_defaults(provided: Any) -> dict[str, str | None]:
    if provided is None:
        return {"id": "id", "updated": None}
    updated = provided.updated_path or (provided.cursor.field if provided.cursor else None)
    return {"id": provided.primary_key, "updated": updated}


class _Builder:
    """Compiles the parts of one stream, collecting problems instead of stopping."""

    def __init__(self, templates: Templates, problems: list[tuple[KeyPath, str]], where: KeyPath):
        self.templates = templates
        self.problems = problems
        self.where = where
        self.allowed = MAPPING_PLACES["mapping.record"]

    def _label(self, *keys: str | int) -> str:
        return ".".join(map(str, (*self.where, *keys)))

    def source(self, text: str | None, *keys: str | int) -> Source | None:
        if not text:
            return None
        try:
            return Source(text, self.templates, self.allowed, self._label(*keys))
        except (TemplateProblem, JsonPathProblem) as exc:
            self.problems.append(((*self.where, *keys), str(exc)))
            return None

    def path(self, text: str, *keys: str | int) -> JsonPath | None:
        try:
            return compile_path(text)
        except JsonPathProblem as exc:
            self.problems.append(((*self.where, *keys), str(exc)))
            return None

    def template(
        self, text: str | None, *keys: str | int, place: str = "mapping.record"
    ) -> CompiledTemplate | None:
        if not text:
            return None
        try:
            return self.templates.compile(text, MAPPING_PLACES[place])
        except TemplateProblem as exc:
            self.problems.append(((*self.where, *keys), str(exc)))
            return None

    def filters(self, spec: StreamMapping) -> dict[str, Source]:
        found: dict[str, Source] = {}
        for name, text in spec.filters.model_dump(exclude_none=True).items():
            source = self.source(text, "filters", name)
            if source is not None:
                source.many = name in ("assignees", "labels")
                found[name] = source
        return found

    def create_fields(self, fields: dict[str, str]) -> list[tuple[JsonPath, CompiledTemplate]]:
        compiled = []
        for text, template in fields.items():
            path = self.path(text, "create_fields", text)
            rendered = self.template(template, "create_fields", text, place="mapping.outbound")
            if path is not None and not (path.is_simple and path.keys):
                self.problems.append(
                    ((*self.where, "create_fields", text), "needs a plain path (a.b.c)")
                )
            elif path is not None and rendered is not None:
                compiled.append((path, rendered))
        return compiled

    def field(self, entity: str, name: str, spec: FieldSpec) -> CompiledField | None:
        at = (*self.where, "fields", name)
        try:
            kiro = resolve_field(entity, name)  # type: ignore[arg-type]
        except KeyError as exc:
            self.problems.append((at, str(exc.args[0])))
            return None
        problem = _field_problem(kiro, spec)
        if problem:
            self.problems.append((at, problem))
            return None
        try:
            return CompiledField(kiro, spec, self.templates, self._label("fields", name))
        except (TemplateProblem, JsonPathProblem) as exc:
            self.problems.append((at, str(exc)))
            return None


def _field_problem(kiro: KiroField, spec: FieldSpec) -> str | None:
    if kiro.kind == "user" and spec.user is None and spec.direction != "outbound_only":
        return f"{kiro.name} is a user field: give `user` (how to read the email)"
    if kiro.kind != "user" and spec.user is not None:
        return f"`user` only applies to user fields, not {kiro.name}"
    if spec.outbound_path:
        if not _plain(spec.outbound_path):
            return f"outbound_path {spec.outbound_path!r} must be a plain path (a.b.c)"
    elif spec.direction != "inbound_only" and spec.body and not _plain(spec.path):
        return (
            "goes out in item.body but has no plain path to write to: give "
            "`outbound_path`, or `direction: inbound_only`, or `body: false`"
        )
    return None


def _plain(text: str | None) -> bool:
    if not text:
        return False
    try:
        path = compile_path(text)
    except JsonPathProblem:
        return False
    return path.is_simple and bool(path.keys)


__all__ = [
    "CompiledField",
    "CompiledStream",
    "CompiledUser",
    "Mapping",
    "MappingProblems",
    "UserRef",
    "compile_mapping",
]
