"""Outbound: a Kiro entity -> the ``item`` a provider write renders.

``build_item`` returns::

    {"id": kiro id, "project_id": ..., "operation": "create" | "update",
     "fields":   {kiro field: Kiro value (JSON form; users as ids)},
     "changed":  [kiro fields that go out in this write],
     "external": {kiro field: provider value (value maps, `outbound` template applied)},
     "body":     {the provider body of the changed fields, built at their outbound paths,
                  relative to the stream root; on create every outbound field and the
                  stream's create_fields}}

A write's YAML uses ``item.body`` as (part of) its request body, ``item.changed`` in step
conditions (``when: "{{ 'status' in item.changed }}"``) and ``item.external.status`` where
a value travels outside the body (Jira's transitions).
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping as MappingABC
from typing import Any

from engine.mapping.compiled import CompiledField, CompiledStream


def build_item(
    stream: CompiledStream,
    *,
    kiro_id: str,
    project_id: str,
    values: MappingABC[str, Any],
    changed: Collection[str] | None,
    emails: MappingABC[str, str],
    config: MappingABC[str, Any],
) -> dict[str, Any]:
    """The write context for one entity. ``changed=None`` means a create (every field)."""
    operation = "create" if changed is None else "update"
    outbound = stream.field_set("out")
    going = [f.name for f in outbound if changed is None or f.name in changed]
    item: dict[str, Any] = {
        "id": kiro_id,
        "project_id": project_id,
        "operation": operation,
        "fields": dict(values),
        "changed": going,
        "external": {},
        "body": {},
    }
    for item_field in outbound:
        external = external_value(item_field, values.get(item_field.name), emails, item, config)
        item["external"][item_field.name] = external
        if item_field.name in going and item_field.spec.body and item_field.out_path is not None:
            item_field.out_path.set(item["body"], external)
    if operation == "create":
        for path, template in stream.create_fields:
            context = {"value": None, "item": item, "config": config}
            path.set(item["body"], template.render(context, f"{stream.name}.create_fields"))
    return item


def external_value(
    item_field: CompiledField,
    value: Any,
    emails: MappingABC[str, str],
    item: MappingABC[str, Any],
    config: MappingABC[str, Any],
) -> Any:
    """A canonical Kiro value as the provider's: value map, then the ``outbound`` template."""
    if item_field.kiro.kind == "user":
        mapped: Any = emails.get(value) if value else None
    else:
        mapped = item_field.to_external(value)
    if item_field.out_template is None:
        return mapped
    context = {"value": mapped, "item": item, "config": config}
    return item_field.out_template.render(context, f"{item_field.where}.outbound")


__all__ = ["build_item", "external_value"]
