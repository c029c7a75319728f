"""The ``kiro-sync`` command line.

Each command group lives in its own module and contributes ``register(subparsers)``;
``main`` wires them together. A command handler returns the process exit status; a
kiro-sync error it lets through (invalid settings, a store that cannot be opened) is printed
as one ``error: ...`` line with exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine.errors import KiroSyncError

# Modules contributing command groups, in the order `kiro-sync --help` lists them.
COMMAND_MODULES = (
    "runtime.cli.providers",
    "runtime.cli.keys",
    "runtime.cli.serve",
    "runtime.cli.admin",
    "runtime.cli.bulk",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiro-sync",
        description="Sync engine connecting Kiro with project-management tools.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        status: int = handler(args)
    except KiroSyncError as exc:  # bad settings, a store that cannot be opened: one line
        from runtime.cli.common import report

        return report(exc)
    return status


def run() -> None:
    sys.exit(main())
