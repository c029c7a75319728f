"""Bulk import and export from the terminal, with a progress bar.

    kiro-sync import FILE.{json,csv,xlsx} --project P [--integration I] [--batch-size N]
    kiro-sync export --project P [--format json|csv|xlsx] --out FILE [--integration I]
                     [--status S]... [--label L]... [--assignee A]... [--from DATE] [--to DATE]

``import`` reads the file row by row (engine/bulk/readers.py; the project is created when
missing) and prints the counts and the first row errors; it exits 1 when a row failed. There
is no row limit: the file goes in batch by batch. ``export`` writes the file (its format from
``--format`` or the file's extension) to ``FILE.partial`` and renames it when complete.
Both open the store like the other commands (``--db``, KIRO_SYNC_DATABASE_URL, or the data
directory's DuckDB file; with ``kiro-sync serve`` running on DuckDB, stop it first).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from engine.bulk.exporter import Export
from engine.bulk.formats import FORMATS
from engine.bulk.importer import DEFAULT_BATCH_SIZE
from engine.bulk.readers import read_import_file
from engine.bulk.results import ROW_KINDS, ImportResult
from engine.errors import ConfigError, ValidationError
from engine.facade import Engine
from runtime.cli.common import Command, run_with_engine


def register(subparsers: Any) -> None:
    imp = subparsers.add_parser("import", help="import work items from a json, csv or xlsx file")
    imp.add_argument("file", type=Path, help="FILE.json, FILE.csv or FILE.xlsx")
    imp.add_argument("--project", required=True, help="the project to import into")
    imp.add_argument("--integration", help="link rows with an externalId to this integration")
    imp.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per batch")
    _common(imp, import_command)

    exp = subparsers.add_parser("export", help="export a project's work items to a file")
    exp.add_argument("--project", required=True, help="the project to export")
    exp.add_argument("--format", choices=sorted(FORMATS), help="default: the --out extension")
    exp.add_argument("--out", required=True, type=Path, help="the file to write")
    exp.add_argument("--integration", help="take external ids from this integration's links")
    exp.add_argument("--status", action="append", default=[], help="only this status (repeat)")
    exp.add_argument("--label", action="append", default=[], help="only items with this tag")
    exp.add_argument("--assignee", action="append", default=[], help="user id or email")
    exp.add_argument("--from", dest="start", help="created at or after (ISO 8601)")
    exp.add_argument("--to", dest="end", help="created at or before (ISO 8601)")
    _common(exp, export_command)


def _common(parser: argparse.ArgumentParser, command: Command) -> None:
    parser.add_argument("--db", help="postgresql://... or a DuckDB file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=lambda args: run_with_engine(command, args))


def _progress(label: str) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


# --- import --------------------------------------------------------------------------------
async def import_command(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    file = read_import_file(args.file)
    with _progress(f"importing {args.file.name}") as progress:
        task = progress.add_task("rows", total=file.total)
        result = await engine.import_data(
            args.project,
            {"workItems": file.work_items, "users": file.users, "projects": file.projects},
            integration_id=args.integration,
            create_project=True,
            batch_size=args.batch_size,
            progress=lambda done: progress.update(task, completed=done),
        )
    if args.json:
        console.print_json(orjson.dumps(result.to_dict()).decode())
    else:
        _print_result(console, result)
    return 0 if result.total.failed == 0 else 1


def _print_result(console: Console, result: ImportResult) -> None:
    table = Table("rows", "created", "updated", "skipped", "failed")
    for kind in ROW_KINDS:
        counts = result.counts[kind]
        if counts.rows:
            table.add_row(kind, *(str(v) for v in counts.to_dict().values()))
    console.print(table)
    for error in result.errors:
        console.print(f"{error.kind}[{error.index}]: {error.reason}", highlight=False, markup=False)
    if result.errors_omitted:
        console.print(f"... and {result.errors_omitted} more row errors", highlight=False)


# --- export --------------------------------------------------------------------------------
async def export_command(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    out: Path = args.out
    fmt = args.format or out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValidationError(
            f"cannot tell the format from {out.name!r}: give --format json, csv or xlsx"
        )
    if out.is_dir() or not out.parent.is_dir():
        where = "is a directory" if out.is_dir() else "is in a directory that does not exist"
        raise ValidationError(f"cannot write {out}: it {where}")
    export = await engine.export_data(
        args.project, fmt, _filters(args), integration_id=args.integration
    )
    try:
        await _write(export, out)
    except OSError as exc:  # not allowed, disk full...
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    summary = {"file": str(out), "format": fmt, "rows": export.rows, "bytes": out.stat().st_size}
    if args.json:
        console.print_json(orjson.dumps(summary).decode())
    else:
        console.print(
            f"{export.rows} work items -> {out} ({summary['bytes']} bytes)", highlight=False
        )
    return 0


async def _write(export: Export, out: Path) -> None:
    """The export into ``out.partial``, renamed to ``out`` once complete."""
    partial = out.with_name(out.name + ".partial")
    try:
        with _progress(f"exporting to {out.name}") as progress, partial.open("wb") as handle:
            task = progress.add_task("items", total=None)
            async for chunk in export.chunks():
                handle.write(chunk)
                progress.update(task, completed=export.rows)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    filters: dict[str, Any] = {
        "statuses": args.status,
        "labels": args.label,
        "assignees": args.assignee,
    }
    if args.start or args.end:
        filters["dateRange"] = {"start": args.start, "end": args.end}
    return filters
