"""Commands for people at a terminal, over the same ``Engine`` the server uses.

    kiro-sync token --sub ID [--role authenticated|service_role] [--ttl S]
    kiro-sync members add PROJECT USER ROLE       (creates the project when missing)
    kiro-sync integrations list [--project P] [--json]
    kiro-sync sync ID [--wait] [--json]           (--wait: a live progress bar)
    kiro-sync status ID [--json]

They open the store named by KIRO_SYNC_DATABASE_URL / ``--db`` (default: the DuckDB file of
the data directory). DuckDB allows one process at a time: with ``kiro-sync serve`` running on
DuckDB, stop it first, or run on Postgres. Errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine.errors import KiroSyncError
from engine.facade import Engine
from runtime.auth import SERVICE_ROLE, mint_token, signing_secret
from runtime.cli.common import Command, report, run_with_engine
from runtime.settings import Settings

ROLES = ("owner", "admin", "member", "viewer")


def register(subparsers: Any) -> None:
    token = subparsers.add_parser("token", help="mint a JWT for the configured secret")
    token.add_argument("--sub", required=True, help="the user id (the token's subject)")
    token.add_argument("--role", default="authenticated", choices=["authenticated", SERVICE_ROLE])
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    token.set_defaults(handler=token_command)

    members = subparsers.add_parser("members", help="project membership")
    members_sub = members.add_subparsers(dest="members_command", metavar="COMMAND", required=True)
    add = members_sub.add_parser("add", help="add a member (or change their role)")
    add.add_argument("project")
    add.add_argument("user")
    add.add_argument("role", choices=ROLES)
    _with_store(add, add_member)

    integrations = subparsers.add_parser("integrations", help="integrations")
    integ_sub = integrations.add_subparsers(dest="integrations_command", metavar="COMMAND")
    integ_sub.required = True
    listing = integ_sub.add_parser("list", help="list integrations")
    listing.add_argument("--project", help="only this project's")
    _with_store(listing, list_integrations)

    sync = subparsers.add_parser("sync", help="run a sync of an integration")
    sync.add_argument("integration_id")
    sync.add_argument("--wait", action="store_true", help="show a live progress bar")
    _with_store(sync, run_sync)

    status = subparsers.add_parser("status", help="sync status of an integration")
    status.add_argument("integration_id")
    _with_store(status, show_status)


def _with_store(parser: argparse.ArgumentParser, command: Command) -> None:
    parser.add_argument("--db", help="postgresql://... or a DuckDB file")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=lambda args: run_with_engine(command, args))


def token_command(args: argparse.Namespace) -> int:
    settings = Settings.load()
    secret = settings.supabase_jwt_secret
    try:
        key = signing_secret(
            settings.home, secret.get_secret_value() if secret else None, settings.supabase_url
        )
    except KiroSyncError as exc:
        return report(exc)
    if args.ttl <= 0:
        print("error: --ttl must be positive", file=sys.stderr)
        return 2
    if args.role != SERVICE_ROLE and not args.sub.strip():
        print(
            "error: --sub must name a user (the server refuses a token without one)",
            file=sys.stderr,
        )
        return 2
    print(mint_token(key, args.sub, args.role, args.ttl))
    return 0


async def add_member(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    await engine.add_member(args.project, args.user, args.role)
    console.print(f"{args.user} is {args.role} of project {args.project}", highlight=False)
    return 0


async def list_integrations(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    items = await engine.list_integrations(args.project)
    if args.json:
        _print_json(console, items)
        return 0
    table = Table("id", "project", "type", "name", "active", "status", "last sync")
    for item in items:
        table.add_row(
            str(item["id"]),
            str(item["project_id"]),
            str(item["type"]),
            str(item.get("name") or ""),
            "yes" if item.get("is_active") else "no",
            str(item.get("sync_status") or ""),
            str(item.get("last_sync_at") or "never"),
        )
    console.print(table)
    return 0


async def run_sync(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    if not args.wait:
        result = await engine.sync(args.integration_id, trigger="manual")
    else:
        with ProgressFeed(console) as update:
            result = await engine.sync(args.integration_id, trigger="manual", progress=update)
    summary = result.to_dict()
    if args.json:
        _print_json(console, summary)
    else:
        if result.error_message:
            console.print(f"[red]error:[/red] {result.error_message}", highlight=False)
        totals = result.totals.to_dict()
        shown = ("processed", "created", "updated", "skipped", "deleted", "failed")
        counts = ", ".join(f"{name} {totals[name]}" for name in shown)
        console.print(f"run {result.run_id}: {result.status} ({counts})", highlight=False)
    return 0 if result.status in ("success", "partial") else 1


class ProgressFeed:
    """A rich progress bar fed by the engine's progress callback."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task("syncing", total=None, detail="")

    def __enter__(self) -> Callable[[dict[str, Any]], None]:
        self.progress.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, state: dict[str, Any]) -> None:
        records = int(state.get("records") or 0)
        total = state.get("total")
        detail = " ".join(
            f"{key} {state[key]}"
            for key in ("pages", "records", "created", "updated", "skipped", "failed")
            if key in state
        )
        self.progress.update(
            self.task,
            completed=records,
            total=total if isinstance(total, int) else None,
            detail=detail,
        )


async def show_status(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    status = await engine.get_sync_status(args.integration_id)
    if args.json:
        _print_json(console, status)
        return 0
    console.print(
        f"[bold]{status.get('integration_id')}[/bold]  status {status.get('sync_status')}  "
        f"active {status.get('is_active')}  last sync {status.get('last_sync_at') or 'never'}"
    )
    if status.get("error_message"):
        console.print(f"[red]error:[/red] {status['error_message']}", highlight=False)
    run = status.get("current_run")
    if run:
        console.print(f"running: {run.get('id')} ({run.get('trigger')}) {run.get('progress')}")
    _print_logs(console, status.get("logs") or [])
    conflicts = status.get("conflicts") or []
    if conflicts:
        console.print(f"{len(conflicts)} conflict(s) wait for resolution")
    return 0


def _print_logs(console: Console, logs: list[dict[str, Any]]) -> None:
    if not logs:
        return
    table = Table("started", "status", "processed", "created", "updated", "skipped", "ms")
    for entry in logs:
        table.add_row(
            str(entry.get("started_at") or ""),
            str(entry.get("status") or ""),
            *(str(entry.get(k, "")) for k in ("items_processed", "items_created")),
            *(str(entry.get(k, "")) for k in ("items_updated", "items_skipped", "duration_ms")),
        )
    console.print(table)


def _print_json(console: Console, value: Any) -> None:
    text = orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode()
    console.print_json(text) if console.is_terminal else print(text)
