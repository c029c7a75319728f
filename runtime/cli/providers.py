"""``kiro-sync providers``: list, validate, describe and try provider YAML.

    kiro-sync providers list                      name, title, auth types, streams
    kiro-sync providers validate [FILE...]        every problem as file:line:col: path: message
                                                  (no FILE: every provider and its mapping)
    kiro-sync providers schema [--output FILE]    the JSON Schema of provider files
    kiro-sync providers try PROVIDER STREAM --credentials FILE [--config FILE] [--limit N]
                                                  credentials and config checked as connect
                                                  checks them, defaults filled in

Exit status: 0 when all is well, 2 when a provider file is invalid (or the command is used
wrongly), 1 when ``try`` fails talking to the provider.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from engine.catalog import ProviderCatalog, display_path
from engine.config import check_extra, parse_config
from engine.connect import validate_credentials
from engine.errors import ConfigError, KiroSyncError, NotFoundError, SpecError
from engine.provider import Provider
from engine.spec.loader import load_provider, provider_problems
from engine.spec.yamlsource import parse_yaml
from runtime.cli.common import report

OK, FAILED, INVALID = 0, 1, 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "providers",
        help="list, validate and try provider YAML files",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    commands = parser.add_subparsers(dest="providers_command", metavar="COMMAND")
    parser.set_defaults(handler=lambda _args: _usage(parser))

    listing = commands.add_parser("list", help="the providers found: name, title, auth, streams")
    listing.set_defaults(handler=list_providers)

    validate = commands.add_parser(
        "validate", help="check provider files (default: every provider and its mapping)"
    )
    validate.add_argument("files", nargs="*", metavar="FILE", help="provider YAML files")
    validate.set_defaults(handler=validate_providers)

    schema = commands.add_parser("schema", help="print the JSON Schema of provider files")
    schema.add_argument("--output", metavar="FILE", help="write it to FILE instead")
    schema.set_defaults(handler=print_schema)

    trying = commands.add_parser("try", help="read a few records of a stream, as JSON lines")
    trying.add_argument("provider", help="a provider name, or the path of a YAML file")
    trying.add_argument("stream", help="the stream to read")
    trying.add_argument("--credentials", required=True, metavar="FILE", help="JSON or YAML")
    trying.add_argument("--config", metavar="FILE", help="integration config, JSON or YAML")
    trying.add_argument("--limit", type=_positive, default=10, metavar="N", help="default 10")
    trying.set_defaults(handler=try_stream)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return INVALID


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


# --- list -----------------------------------------------------------------------------------


def list_providers(args: argparse.Namespace) -> int:
    catalog = ProviderCatalog.default()
    rows: list[tuple[str, str, str, str]] = []
    broken: list[str] = []
    for name in catalog.names():
        try:
            provider = catalog.get(name)
        except SpecError as exc:
            broken.append(f"{name}: invalid ({len(exc.problems)} problems): {exc.problems[0]}")
            continue
        rows.append(_summary(provider))
    if not rows and not broken:
        print("no providers found", file=sys.stderr)
    _print_table(("NAME", "TITLE", "AUTH", "STREAMS"), rows, sys.stdout)
    for line in broken:
        print(line, file=sys.stderr)
    if broken:
        print("run `kiro-sync providers validate` for every problem", file=sys.stderr)
    return INVALID if broken else OK


def _summary(provider: Provider) -> tuple[str, str, str, str]:
    spec = provider.spec
    auth = list(dict.fromkeys(mode.auth.type for mode in spec.auth_modes.values()))
    return spec.name, spec.title, ", ".join(auth), ", ".join(spec.streams)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    if not rows:
        return
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console(file=out).print(table)
        return
    for row in (header, *rows):
        print("\t".join(row), file=out)


# --- validate -------------------------------------------------------------------------------


def validate_providers(args: argparse.Namespace) -> int:
    results = _check_files(args.files) if args.files else _check_catalog()
    if not results:
        print("no providers found", file=sys.stderr)
    bad = 0
    for shown, problems in results:
        for line in problems or [f"{shown}: ok"]:
            print(line)
        bad += bool(problems)
    if results:
        print(f"{len(results)} checked, {bad} invalid", file=sys.stderr)
    return INVALID if bad else OK


def _check_files(files: Sequence[str]) -> list[tuple[str, list[str]]]:
    return [(file, provider_problems(file)) for file in files]


def _check_catalog() -> list[tuple[str, list[str]]]:
    """Each provider of the catalog, then its mapping file when it has one."""
    catalog = ProviderCatalog.default()
    results = []
    for name in catalog.names():
        problems = catalog.problems(name)
        results.append((display_path(catalog.path(name)), problems))
        mapping = catalog.mapping_path(name)
        if mapping is not None and not problems:
            results.append((display_path(mapping), catalog.mapping_problems(name)))
    return results


# --- schema ---------------------------------------------------------------------------------


def schema_text() -> str:
    """The JSON Schema as committed in docs/provider.schema.json."""
    from engine.spec.schema import spec_json_schema

    return json.dumps(spec_json_schema(), indent=2, ensure_ascii=False) + "\n"


def print_schema(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return OK


# --- try ------------------------------------------------------------------------------------


def try_stream(args: argparse.Namespace) -> int:
    try:
        provider = _provider(args.provider)
        given = read_mapping(args.credentials, "credentials")
        credentials = validate_credentials(provider.spec, given).values  # defaults filled in
        config = try_config(provider, read_mapping(args.config, "config") if args.config else {})
        if args.stream not in provider.spec.streams:
            streams = ", ".join(provider.spec.streams)
            raise NotFoundError(
                f"{provider.name} has no stream '{args.stream}'; streams: {streams}"
            )
    except SpecError as exc:
        print(exc.render(), file=sys.stderr)
        return INVALID
    except KiroSyncError as exc:
        report(exc)
        return INVALID
    try:
        count = asyncio.run(read_records(provider, credentials, config, args.stream, args.limit))
    except KiroSyncError as exc:
        print(f"error ({exc.error_class}): {exc}", file=sys.stderr)
        return FAILED
    print(f"{count} records from {provider.name}.{args.stream}", file=sys.stderr)
    return OK


async def read_records(
    provider: Provider, credentials: dict[str, Any], config: dict[str, Any], stream: str, limit: int
) -> int:
    """Print up to ``limit`` records of ``stream`` as JSON lines; how many were printed."""
    from engine.http import Connection
    from engine.strategies import shared_default_registry

    count = 0
    registry = shared_default_registry()
    async with Connection(provider, credentials, config, registry=registry) as conn:
        async for page in conn.read(stream, limit=limit):
            for record in page.records:
                sys.stdout.write(orjson.dumps(record, default=str).decode() + "\n")
                count += 1
            sys.stdout.flush()
    return count


def try_config(provider: Provider, given: dict[str, Any]) -> dict[str, Any]:
    """The integration config templates see, as connect gives it: checked (ValidationError
    naming each bad key) and with every default filled in (``config.filters.projects`` is
    ``[]`` when no filter is given)."""
    config = parse_config(given)
    if config.extra or provider.spec.config_schema.get("required"):
        check_extra(config.extra, provider.spec.config_schema, provider.name)
    return config.wire()


def _provider(reference: str) -> Provider:
    """A catalog provider by name, or a YAML file by path (for a provider being written)."""
    path = Path(reference)
    if reference.endswith((".yaml", ".yml")) or path.is_file():
        return load_provider(path)
    return ProviderCatalog.default().get(reference)


def read_mapping(file: str, what: str) -> dict[str, Any]:
    """A JSON or YAML file holding one mapping (credentials or config); SpecError with
    ``file:line:col`` when it does not parse (duplicate keys included)."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what} file {file}: {exc}") from None
    data, _ = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError(f"{file}:1:1: {what}: expected a mapping of names to values")
    return data
