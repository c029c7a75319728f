"""Mappings: provider records <-> Kiro entities (mappings/<provider>.yaml).

    mapping = load_mapping("mappings/github.yaml", provider.spec)
    mapping = mapping.with_field_mappings(config.field_mappings)   # the integration's overrides
    mapped = map_record(mapping.stream("issues"), record, config=config.wire())
    item = build_item(mapping.export_stream("work_item"), kiro_id=..., values=..., ...)

See docs/mappings.md for the language.
"""

from engine.mapping.compiled import (
    CompiledField,
    CompiledStream,
    Mapping,
    MappingProblems,
    UserRef,
    compile_mapping,
)
from engine.mapping.inbound import MappedRecord, map_record
from engine.mapping.loader import load_mapping, load_mapping_text
from engine.mapping.outbound import build_item
from engine.mapping.overrides import apply_field_mappings, check_field_mappings
from engine.mapping.spec import MappingSpec

__all__ = [
    "CompiledField",
    "CompiledStream",
    "MappedRecord",
    "Mapping",
    "MappingProblems",
    "MappingSpec",
    "UserRef",
    "apply_field_mappings",
    "build_item",
    "check_field_mappings",
    "compile_mapping",
    "load_mapping",
    "load_mapping_text",
    "map_record",
]
