"""The seed's ``integrations`` table, the provider types it may name, and stored credentials."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from engine.errors import ConflictError, NotFoundError, StoreError, ValidationError
from engine.store import tables as t
from engine.store.base import Integration
from engine.store.core import SqlCore, check_columns
from engine.store.sql import Session

# Columns update_integration may change (id, project, type and creation stay as created).
MUTABLE = (
    "name",
    "config",
    "credentials",
    "is_active",
    "sync_status",
    "last_sync_at",
    "error_message",
    "webhook_url",
)

PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

# Tables holding an integration's dependents, deleted with it (Postgres would cascade; DuckDB
# has no cascading foreign keys, so the store does it on both).
DEPENDENTS = (
    "integration_sync_logs",
    "webhook_logs",
    "external_links",
    "sync_cursors",
    "sync_runs",
    "sync_conflicts",
)


class IntegrationQueries(SqlCore):
    async def register_provider_types(self, names: Sequence[str]) -> None:
        """Admit ``names`` as integration types (call at start with every installed provider)."""
        bad = [n for n in names if not PROVIDER_NAME.match(n)]
        if bad:
            raise ValidationError(
                f"invalid provider name {bad[0]!r}: lower-case letters, digits, '-' and '_'",
                problems=[f"provider: {n}" for n in bad],
            )
        if not names:
            return
        async with self.transaction() as s:
            await s.execute(
                "INSERT INTO provider_types (name) "
                f"SELECT DISTINCT name FROM ({self._unnest_names()}) AS n(name) "
                "ON CONFLICT (name) DO NOTHING",
                (list(names),),
            )

    def _unnest_names(self) -> str:
        return f"SELECT UNNEST(%s::{self.dialect.types['list']})"

    async def provider_types(self) -> list[str]:
        async with self.transaction() as s:
            rows = await s.fetchall("SELECT name FROM provider_types ORDER BY name")
        return [r[0] for r in rows]

    async def create_integration(self, integration: Integration) -> Integration:
        """Insert the integration; ConflictError when the project already has one so named."""
        now = self.now()
        row = dataclasses.replace(
            integration,
            created_at=integration.created_at or now,
            updated_at=integration.updated_at or now,
        )
        async with self.transaction() as s:
            await self._check_type(s, row.type)
            await self._insert_integration(s, row)
        return row

    async def _check_type(self, s: Session, type_name: str) -> None:
        found = await s.fetchone("SELECT 1 FROM provider_types WHERE name = %s", (type_name,))
        if found is None:
            known = [r[0] for r in await s.fetchall("SELECT name FROM provider_types ORDER BY 1")]
            raise ValidationError(
                f"unknown integration type {type_name!r}; installed: {', '.join(known)}",
                problems=[f"integrationType: {type_name}"],
            )

    async def _insert_integration(self, s: Session, row: Integration) -> None:
        table = t.INTEGRATIONS
        marks = ", ".join(["%s"] * len(table.columns))
        sql = f"INSERT INTO integrations ({table.select_list()}) VALUES ({marks})"
        try:
            await s.execute(sql, table.encode(row))
        except StoreError as exc:
            if getattr(exc, "constraint", None) != "unique":
                raise
            raise ConflictError(
                f"integration {row.id} or a {row.type} integration named {row.name!r} already "
                f"exists in project {row.project_id}",
                integration_id=row.id,
            ) from None

    async def get_integration(self, integration_id: str) -> Integration | None:
        found: Integration | None = await self.query_one(
            t.INTEGRATIONS, "id = %s", (integration_id,)
        )
        return found

    async def list_integrations(
        self, project_id: str | None = None, active_only: bool = False
    ) -> list[Integration]:
        clauses, params = ["1 = 1"], []
        if project_id is not None:
            clauses.append("project_id = %s")
            params.append(project_id)
        if active_only:
            clauses.append("is_active")
        where = " AND ".join(clauses)
        rows: list[Integration] = await self.query(
            t.INTEGRATIONS, where, params, "ORDER BY created_at, id"
        )
        return rows

    async def update_integration(self, integration_id: str, **changes: Any) -> None:
        check_columns("integration", changes, MUTABLE)
        async with self.transaction() as s:
            found = await self.update_row(
                s, t.INTEGRATIONS, (integration_id,), changes, {"updated_at": self.now()}
            )
        if not found:
            raise NotFoundError(
                f"integration {integration_id} does not exist", integration_id=integration_id
            )

    async def delete_integration(self, integration_id: str) -> bool:
        """Delete the integration and everything recorded for it; False if it did not exist."""
        async with self.transaction() as s:
            for table in DEPENDENTS:
                await s.execute(f"DELETE FROM {table} WHERE integration_id = %s", (integration_id,))
            row = await s.fetchone(
                "DELETE FROM integrations WHERE id = %s RETURNING id", (integration_id,)
            )
        return row is not None

    async def iter_credentials(self) -> list[tuple[str, bytes]]:
        """(integration id, encrypted blob) of every integration holding credentials."""
        async with self.transaction() as s:
            rows = await s.fetchall(
                "SELECT id, credentials FROM integrations WHERE credentials IS NOT NULL ORDER BY id"
            )
        return [(r[0], bytes(r[1])) for r in rows]

    async def set_credentials(self, integration_id: str, blob: bytes) -> None:
        await self.set_credentials_many([(integration_id, blob)])

    async def set_credentials_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Replace several encrypted blobs in one transaction (key rotation uses it)."""
        async with self.transaction() as s:
            for integration_id, blob in items:
                found = await self.update_row(
                    s, t.INTEGRATIONS, (integration_id,), {"credentials": blob}
                )
                if not found:
                    raise NotFoundError(
                        f"integration {integration_id} does not exist",
                        integration_id=integration_id,
                    )
