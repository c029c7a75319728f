"""An integration's ``fieldMappings`` laid over a provider's default mapping.

``fieldMappings`` is ``{external_field: kiro_field}`` as in the seed, the external field a
JSONPath relative to the stream's root (Jira's ``fields``): ``{"customfield_10016":
"custom.story_points", "summary": "title"}``. For every work-item stream:

- a Kiro field the defaults already map now reads from (and, when the path is plain, writes
  to) the given external field; its value maps, default, user rule and direction stay, its
  templates go (they were written for the default field);
- a Kiro field the defaults do not map is added, read and written both ways (read only when
  the path is not a plain one).

Problems are ``ValidationError``s naming the offending key: an unknown Kiro field, an
unparsable path.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import replace

from engine.errors import ValidationError
from engine.jsonpath import JsonPathProblem, compile_path
from engine.mapping.compiled import CompiledField, CompiledStream, Mapping
from engine.mapping.fields import resolve_field
from engine.mapping.spec import FieldSpec, UserSpec

WHERE = "config.fieldMappings"


def apply_field_mappings(mapping: Mapping, field_mappings: MappingABC[str, str]) -> Mapping:
    """A new ``Mapping`` with ``field_mappings`` applied; ValidationError on a bad entry."""
    if not field_mappings:
        return mapping
    problems = check_field_mappings(field_mappings)
    if problems:
        raise ValidationError(f"invalid fieldMappings: {problems[0]}", problems)
    streams = dict(mapping.streams)
    for name, stream in mapping.streams.items():
        if stream.entity == "work_item":
            streams[name] = _override(stream, field_mappings, mapping)
    return replace(mapping, streams=streams)


def check_field_mappings(field_mappings: MappingABC[str, str]) -> list[str]:
    """``config.fieldMappings.<external>: message`` for every bad entry (empty when fine)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for external, kiro in field_mappings.items():
        at = f"{WHERE}.{external}"
        if not isinstance(kiro, str) or not kiro:
            problems.append(f"{at}: expected a Kiro field name")
            continue
        try:
            name = resolve_field("work_item", kiro).name
        except KeyError as exc:
            problems.append(f"{at}: {exc.args[0]}")
            continue
        if name in seen:
            problems.append(f"{at}: {name!r} is already mapped from {seen[name]!r}")
        seen[name] = external
        try:
            compile_path(external)
        except JsonPathProblem as exc:
            problems.append(f"{at}: {exc}")
    return problems


def _override(
    stream: CompiledStream, field_mappings: MappingABC[str, str], mapping: Mapping
) -> CompiledStream:
    fields = dict(stream.fields)
    for external, kiro in field_mappings.items():
        kiro_field = resolve_field("work_item", kiro)
        base = fields.get(kiro_field.name)
        spec = _spec(external, base.spec if base else None, kiro_field.kind == "user")
        where = f"{WHERE}.{external}"
        fields[kiro_field.name] = CompiledField(kiro_field, spec, mapping.templates, where)
    return replace(stream, fields=fields)


def _spec(external: str, base: FieldSpec | None, is_user: bool) -> FieldSpec:
    path = compile_path(external)
    writable = path.is_simple and bool(path.keys)
    if base is None:
        direction = "both" if writable and not is_user else "inbound_only"
        user = UserSpec() if is_user else None
        return FieldSpec(path=external, list=not path.is_simple, direction=direction, user=user)
    direction = base.direction if writable else "inbound_only"
    if direction == "outbound_only" and not writable:
        direction = "inbound_only"
    return base.model_copy(
        update={
            "path": external,
            "inbound": None,
            "outbound": None,
            "outbound_path": None,
            "direction": direction,
        }
    )
