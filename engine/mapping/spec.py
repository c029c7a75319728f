"""The mapping language: what a mappings/<provider>.yaml file may say.

A mapping turns a provider stream's records into Kiro entities and Kiro entities back into
the ``item`` a provider write renders::

    provider: github
    streams:
      issues:                       # a stream of providers/github.yaml
        entity: work_item
        id: "{{ record.repository_url.split('/repos/')[-1] }}#{{ record.number }}"
        url: html_url
        updated: updated_at
        fields:
          title: {path: title}
          status:
            path: state
            values: {open: To Do, closed: Done}      # provider value -> Kiro value
            outbound_values: {In Progress: open}     # Kiro value -> provider value (extra)
          tags: {path: "labels[*].name", list: true, outbound_path: labels}

A *source* (``id``, ``key``, ``url``, ``updated``, ``created``, ``work_item``, filter values)
is either a JSONPath into the record or a template (it contains ``{{``). A field's ``path``
is a JSONPath relative to the stream's ``root`` (Jira's ``fields``); ``inbound`` replaces it
with a template. Templates see the names listed in ``MAPPING_PLACES`` for their place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from engine.config import SyncOption
from engine.mapping.fields import MappedEntity
from engine.registry import StrictModel

Direction = Literal["both", "inbound_only", "outbound_only"]
Source = str  # a JSONPath into the record, or a template when it contains "{{"

MAPPING_PLACES: dict[str, frozenset[str]] = {
    "mapping.record": frozenset({"record", "root", "parent", "partition", "config"}),
    "mapping.user": frozenset({"user", "record", "config"}),
    "mapping.outbound": frozenset({"value", "item", "config"}),
}


class UserSpec(StrictModel):
    """A provider user object -> a Kiro user, matched by email.

    ``email`` and ``name`` are sources over the user object (templates see it as ``user``);
    when the object carries no email, ``fallback_email`` (a template) gives a stable one, so
    the same provider user always maps to the same Kiro user. An email Kiro does not know
    creates a Kiro user.
    """

    email: Source = "email"
    name: Source | None = None
    fallback_email: str | None = None


class FieldSpec(StrictModel):
    """One Kiro field: where its value comes from and where it goes back."""

    path: str | None = None  # JSONPath relative to the stream root
    inbound: str | None = None  # template replacing `path` for reading
    outbound: str | None = None  # template over `value` (after outbound_values), `item`
    outbound_path: str | None = None  # plain path in item.body; default: `path`
    list: bool = False  # the value is a list (labels -> tags)
    values: dict[str, Any] | None = None  # provider value -> Kiro value
    outbound_values: dict[str, Any] | None = None  # Kiro value -> provider value (extends
    # the inverse of `values`)
    default: Any = None  # Kiro value when the provider's is missing or not in `values`
    outbound_default: Any = None  # provider value when the Kiro one is missing/unmapped
    user: UserSpec | None = None
    direction: Direction = "both"
    body: bool = True  # part of item.body (False: only item.external, e.g. Jira status)
    option: SyncOption | None = None  # only mapped when this sync option is on

    @model_validator(mode="after")
    def _readable_writable(self) -> FieldSpec:
        if self.direction != "outbound_only" and not (self.path or self.inbound):
            raise ValueError("a field read from the provider needs `path` or `inbound`")
        if self.path and self.inbound:
            raise ValueError("give `path` or `inbound`, not both")
        return self


class FilterSources(StrictModel):
    """How to read, from a record, what config.filters compares when not pushed down.

    Defaults: labels from the mapped ``tags``, statuses from the provider value of the
    ``status`` field, dateRange from the stream's ``created``.
    """

    project: Source | None = None
    assignees: Source | None = None
    labels: Source | None = None
    status: Source | None = None


class StreamMapping(StrictModel):
    entity: MappedEntity
    root: str = "$"
    id: Source | None = None  # default: the provider stream's primary_key
    key: Source | None = None
    url: Source | None = None
    updated: Source | None = None  # default: the stream's updated_path, else cursor field
    created: Source | None = None
    deleted_when: str | None = None  # template condition: the record says it is deleted
    work_item: Source | None = None  # comments: the external id of their work item
    option: SyncOption | None = None  # the stream is read only when this option is on
    export: bool = True  # work items of this stream's entity are exported through it
    create_fields: dict[str, str] = Field(default_factory=dict)  # plain path -> template
    filters: FilterSources = Field(default_factory=FilterSources)
    fields: dict[str, FieldSpec]

    @model_validator(mode="after")
    def _comment_parent(self) -> StreamMapping:
        if self.entity == "comment" and not self.work_item:
            raise ValueError("a comment stream needs `work_item` (its work item's external id)")
        return self


class MappingSpec(StrictModel):
    provider: str
    description: str = ""
    streams: dict[str, StreamMapping]


__all__ = [
    "MAPPING_PLACES",
    "Direction",
    "FieldSpec",
    "FilterSources",
    "MappingSpec",
    "StreamMapping",
    "UserSpec",
]
