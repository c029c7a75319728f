"""What the commands share: opening the engine around a command, and one-line errors.

``run_with_engine(command, args)`` loads the settings (``--db`` overrides the environment),
opens the engine, runs ``command(engine, args, console)`` and closes it. ``report(exc)``
prints a kiro-sync error as one ``error: ...`` line on stderr (never wrapped; the settings'
secrets and URL passwords masked, as the store may quote its URL), then each further
problem it carries indented on its own line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable

from rich.console import Console

from engine.errors import KiroSyncError, StoreError
from engine.facade import Engine
from runtime.logging import Redactor
from runtime.settings import Settings

FAILED = 1
DUCKDB_HINT = (
    "the embedded DuckDB file is opened by one process at a time: stop `kiro-sync serve` "
    "first, or run on Postgres"
)
Command = Callable[[Engine, argparse.Namespace, Console], Awaitable[int]]


def report(exc: KiroSyncError, secrets: Iterable[str] = ()) -> int:
    """Print ``exc`` for a person at a terminal; the exit status of a failed command."""
    redactor = Redactor(secrets)
    print(f"error: {redactor.redact_known(_one_line(exc.message))}", file=sys.stderr)
    for problem in list(getattr(exc, "problems", None) or [])[1:]:
        print(f"  {redactor.redact_known(_one_line(str(problem)))}", file=sys.stderr)
    return FAILED


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_with_engine(command: Command, args: argparse.Namespace) -> int:
    """Run ``command`` with an engine on the configured store; errors as ``report`` says."""
    secrets: list[str] = []
    try:
        settings = Settings.load(database_url=args.db)
        secrets = settings.secrets()
        return asyncio.run(_with_engine(command, args, settings))
    except KiroSyncError as exc:
        return report(exc, secrets)


async def _with_engine(command: Command, args: argparse.Namespace, settings: Settings) -> int:
    try:
        engine = await Engine.open(settings.database, settings.home, public_url=settings.base_url)
    except StoreError as exc:
        if settings.database.startswith("postgres") or "lock" not in exc.message.lower():
            raise
        raise StoreError(f"{exc.message.rstrip('.')} ({DUCKDB_HINT})") from None
    try:
        return await command(engine, args, Console())
    finally:
        await engine.close(timeout=settings.shutdown_timeout)
