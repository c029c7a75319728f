"""Versioned schema migrations, applied when a store opens.

Migrations are SQL files in engine/store/migrations/: ``NNNN_name.sql`` is shared by both
backends (``${json}`` becomes the backend's JSON type), ``NNNN_name.<backend>.sql`` adds
statements for one backend only and runs after the shared file of the same version. Each
applied version is a row of ``schema_version``; applying is idempotent (a version already
recorded is skipped) and all pending versions commit in one transaction, so a failed
migration leaves the schema as it was. On Postgres an advisory lock keeps two processes
starting at once from migrating the same schema twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from engine.store.sql import Dialect, Session

_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>\w+?)(?:\.(?P<backend>duckdb|postgres))?\.sql$")

SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(dialect: Dialect) -> list[Migration]:
    """Every migration for ``dialect``, in version order, with statements ready to run."""
    found: dict[int, tuple[str, list[str]]] = {}
    folder = resources.files("engine.store").joinpath("migrations")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        match = _FILE.match(entry.name)
        if not match or match["backend"] not in (None, dialect.name):
            continue
        version = int(match["version"])
        _name, statements = found.setdefault(version, (match["name"], []))
        sql = Template(entry.read_text(encoding="utf-8")).substitute(json=dialect.json_type())
        # "0001_x.postgres.sql" sorts before "0001_x.sql": put shared statements first.
        chunk = split_statements(sql)
        if match["backend"] is None:
            statements[:0] = chunk
        else:
            statements.extend(chunk)
    return [Migration(v, n, tuple(s)) for v, (n, s) in sorted(found.items())]


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: split at a ``;`` ending a line, comments dropped."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


async def applied_versions(session: Session) -> set[int]:
    rows = await session.fetchall("SELECT version FROM schema_version")
    return {int(r[0]) for r in rows}


async def apply_pending(session: Session, migrations: list[Migration]) -> list[int]:
    """Run the migrations not yet recorded, inside the caller's transaction."""
    await session.execute(SCHEMA_VERSION_DDL)
    done = await applied_versions(session)
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.statements:
            await session.execute(statement)
        await session.execute(
            "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
        applied.append(migration.version)
    return applied
