"""Bulk import and export of work items: json, csv and xlsx, streamed, validated row by row.

    result = await BulkImporter(store, "project-1").run(work_items=rows)      # importer.py
    export = await open_export(store, ExportQuery("project-1"), "xlsx")        # exporter.py
    await export.write_to(Path("items.xlsx"))
    rows = read_import_file(Path("items.csv"))                                 # readers.py

Modules: columns (the stable columns), vocabulary (status and priority names), validation
(row models), identity (which item a row updates), items/people (writing a batch),
importer, query (export filters), rows (items -> export rows), formats (json, csv, xlsx),
exporter, readers (files -> rows), links (download links), limits (API limits).
docs/bulk.md describes formats, columns, limits and the API.
"""

from __future__ import annotations

from engine.bulk.columns import COLUMN_NAMES, COLUMNS
from engine.bulk.exporter import Export, open_export
from engine.bulk.importer import BulkImporter
from engine.bulk.limits import BulkLimits
from engine.bulk.links import ExportLinks, LinkedExport
from engine.bulk.query import ExportQuery
from engine.bulk.readers import ImportFile, read_import_file
from engine.bulk.results import ImportResult, RowError

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "BulkImporter",
    "BulkLimits",
    "Export",
    "ExportLinks",
    "ExportQuery",
    "ImportFile",
    "ImportResult",
    "LinkedExport",
    "RowError",
    "open_export",
    "read_import_file",
]
