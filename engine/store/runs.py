"""Sync runs with leases (one sync per integration at a time, across processes) and the
seed's ``integration_sync_logs``.

``start_run`` locks the integration's row (Postgres; DuckDB has one connection), looks for a
running run and either refuses (its lease is live: ConflictError naming it) or retires it (its
lease expired: the process running it died or stalled) before inserting the new run. On
Postgres a partial unique index (one ``running`` row per integration) backs this up. A worker
keeps its lease with ``renew_lease``; renewing a run that was retired raises ConflictError, so
a stalled worker learns it must stop.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from engine.errors import ConflictError, NotFoundError, StoreError
from engine.store import tables as t
from engine.store.base import SyncLog, SyncRun
from engine.store.core import SqlCore, check_columns
from engine.store.sql import Session

RUN_MUTABLE = (
    "status",
    "counters",
    "progress",
    "finished_at",
    "error_class",
    "error_message",
    "node",
)
FINISHED = ("success", "partial", "error", "cancelled")


class RunQueries(SqlCore):
    async def start_run(self, run: SyncRun, lease_seconds: int = 300) -> SyncRun:
        """Insert a running run, or raise ConflictError(run_id=...) when a live one exists."""
        now = self.now()
        started = dataclasses.replace(
            run,
            status="running",
            started_at=run.started_at or now,
            finished_at=None,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
        async with self.transaction() as s:
            await self._lock_integration(s, run.integration_id)
            await self._retire_or_refuse(s, run.integration_id, started.id)
            await self._insert_run(s, started)
        return started

    async def _lock_integration(self, s: Session, integration_id: str) -> None:
        row = await s.fetchone(
            f"SELECT id FROM integrations WHERE id = %s{self.dialect.lock_rows}", (integration_id,)
        )
        if row is None:
            raise NotFoundError(
                f"integration {integration_id} does not exist", integration_id=integration_id
            )

    async def _retire_or_refuse(self, s: Session, integration_id: str, new_id: str) -> None:
        running: list[SyncRun] = await self.select(
            s, t.RUNS, "integration_id = %s AND status = 'running'", (integration_id,)
        )
        now = self.now()
        for old in running:
            if old.lease_expires_at is not None and old.lease_expires_at > now:
                raise ConflictError(
                    f"a sync of integration {integration_id} is already running (run {old.id})",
                    run_id=old.id,
                    integration_id=integration_id,
                )
            message = f"lease expired on node {old.node or '?'}; taken over by run {new_id}"
            changes = {"status": "error", "error_class": "lease_expired", "error_message": message}
            await self.update_row(s, t.RUNS, (old.id,), changes, {"finished_at": now})

    async def _insert_run(self, s: Session, run: SyncRun) -> None:
        marks = ", ".join(["%s"] * len(t.RUNS.columns))
        try:
            await s.execute(
                f"INSERT INTO sync_runs ({t.RUNS.select_list()}) VALUES ({marks})",
                t.RUNS.encode(run),
            )
        except StoreError as exc:
            if getattr(exc, "constraint", None) != "unique":
                raise
            raise ConflictError(
                f"run {run.id} exists or another sync of integration {run.integration_id} "
                "started at the same moment",
                run_id=run.id,
                integration_id=run.integration_id,
            ) from None

    async def renew_lease(self, run_id: str, lease_seconds: int = 300) -> None:
        """Extend a running run's lease; ConflictError when the run is no longer running."""
        expires = self.now() + timedelta(seconds=lease_seconds)
        async with self.transaction() as s:
            row = await s.fetchone(
                "UPDATE sync_runs SET lease_expires_at = %s WHERE id = %s AND status = 'running' "
                "RETURNING id",
                (expires, run_id),
            )
            current = (
                None
                if row
                else await s.fetchone(
                    "SELECT status, error_message FROM sync_runs WHERE id = %s", (run_id,)
                )
            )
        if row is not None:
            return
        if current is None:
            raise NotFoundError(f"sync run {run_id} does not exist", run_id=run_id)
        raise ConflictError(
            f"sync run {run_id} is no longer running ({current[0]}: {current[1] or 'finished'})",
            run_id=run_id,
        )

    async def update_run(self, run_id: str, **changes: Any) -> None:
        """Change a run; a finishing status stamps ``finished_at`` and ends the lease."""
        check_columns("sync run", changes, RUN_MUTABLE)
        extra: dict[str, Any] = {}
        if changes.get("status") in FINISHED:
            extra["lease_expires_at"] = None
            if changes.get("finished_at") is None:
                changes = {**changes, "finished_at": self.now()}
        async with self.transaction() as s:
            found = await self.update_row(s, t.RUNS, (run_id,), changes, extra)
        if not found:
            raise NotFoundError(f"sync run {run_id} does not exist", run_id=run_id)

    async def get_run(self, run_id: str) -> SyncRun | None:
        found: SyncRun | None = await self.query_one(t.RUNS, "id = %s", (run_id,))
        return found

    async def get_running_run(self, integration_id: str) -> SyncRun | None:
        """The integration's running run whose lease is still live, if any."""
        found: SyncRun | None = await self.query_one(
            t.RUNS,
            "integration_id = %s AND status = 'running' AND lease_expires_at > %s",
            (integration_id, self.now()),
        )
        return found

    async def list_runs(self, integration_id: str, limit: int = 20) -> list[SyncRun]:
        """The integration's most recent runs, newest first."""
        rows: list[SyncRun] = await self.query(
            t.RUNS,
            "integration_id = %s",
            (integration_id,),
            f"ORDER BY started_at DESC, id DESC LIMIT {limit:d}",
        )
        return rows

    async def add_sync_log(self, log: SyncLog) -> None:
        row = log if log.started_at is not None else dataclasses.replace(log, started_at=self.now())
        marks = ", ".join(["%s"] * len(t.SYNC_LOGS.columns))
        async with self.transaction() as s:
            await s.execute(
                f"INSERT INTO integration_sync_logs ({t.SYNC_LOGS.select_list()}) VALUES ({marks})",
                t.SYNC_LOGS.encode(row),
            )

    async def list_sync_logs(self, integration_id: str, limit: int = 20) -> list[SyncLog]:
        rows: list[SyncLog] = await self.query(
            t.SYNC_LOGS,
            "integration_id = %s",
            (integration_id,),
            f"ORDER BY started_at DESC, id DESC LIMIT {limit:d}",
        )
        return rows
