"""The columns of a bulk export and import, in their stable order.

Every format carries the same columns (json as object keys, csv and xlsx as the header row),
and an exported file imports back unchanged. A header is matched leniently on import: case,
spaces, ``_`` and ``-`` do not matter (``Due Date``, ``due_date`` and ``dueDate`` are one
column).

=============  ========  ===================================================================
column         kind      meaning
=============  ========  ===================================================================
id             text      the Kiro work item id
externalId     text      the id in the linked tool (from the integration's link), or the
                         ``externalId`` a bulk import without an integration was given
externalKey    text      the human key in that tool (``PROJ-12``, ``#42``)
externalUrl    text      the item's page in that tool
title          text      required on import
description    text
status         text      one of the project's statuses
priority       text      low, medium, high, urgent (or empty)
type           text
assigneeId     text      the Kiro user id
assigneeEmail  text      the assignee's email (import: wins over assigneeId)
tags           tags      json: an array; csv/xlsx: comma-separated, or a JSON array when a
                         tag itself holds a comma
dueDate        datetime  ISO 8601, UTC (xlsx: a date cell, UTC, millisecond precision)
completedAt    datetime
parentId       text      the parent work item's Kiro id
createdAt      datetime  kept when an import creates the item
updatedAt      datetime  read-only: an import sets it to the time of the import
custom         json      json: an object; csv/xlsx: the object as JSON text
=============  ========  ===================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "datetime", "tags", "json"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind = "text"
    width: int = 16  # xlsx column width, in characters


COLUMNS: tuple[Column, ...] = (
    Column("id", width=38),
    Column("externalId", width=14),
    Column("externalKey", width=14),
    Column("externalUrl", width=40),
    Column("title", width=48),
    Column("description", width=48),
    Column("status", width=14),
    Column("priority", width=10),
    Column("type", width=10),
    Column("assigneeId", width=38),
    Column("assigneeEmail", width=28),
    Column("tags", "tags", width=24),
    Column("dueDate", "datetime", width=20),
    Column("completedAt", "datetime", width=20),
    Column("parentId", width=38),
    Column("createdAt", "datetime", width=20),
    Column("updatedAt", "datetime", width=20),
    Column("custom", "json", width=24),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

_SEPARATORS = re.compile(r"[\s_\-]+")


def header_key(name: str) -> str:
    """What a header is matched by: lower case, without spaces, ``_`` and ``-``."""
    return _SEPARATORS.sub("", name).casefold()


def canonical_names(names: tuple[str, ...]) -> dict[str, str]:
    """header_key -> canonical name, for matching the headers of one kind of row."""
    return {header_key(name): name for name in names}
