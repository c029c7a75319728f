"""DuckDB specifics: the file in the data dir, the worker thread, no plaintext on disk."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.store import open_store
from engine.store.base import Batch, Integration
from engine.store.duckdb import DuckDBStore
from engine.vault import Vault, generate_key, parse_keys
from tests.engine.store.helpers import items

SECRET = "kiro-test-plaintext-credential-1234567890"


async def test_default_database_is_a_file_in_the_data_dir(tmp_path: Path) -> None:
    home = tmp_path / "home" / ".kiro-sync"
    store = await open_store(None, env={"KIRO_SYNC_HOME": str(home)})
    try:
        assert isinstance(store, DuckDBStore)
        assert store.path == home / "kiro-sync.duckdb"
        await store.ensure_project("p1")
    finally:
        await store.close()
    assert (home / "kiro-sync.duckdb").is_file()
    assert home.stat().st_mode & 0o777 == 0o700


async def test_every_call_runs_on_one_dedicated_thread(tmp_path: Path) -> None:
    async with DuckDBStore(tmp_path / "db.duckdb") as store:
        threads = {await store.call(threading.get_ident) for _ in range(5)}
    assert len(threads) == 1
    assert threads != {threading.get_ident()}


async def test_the_event_loop_keeps_running_during_a_bulk_write(tmp_path: Path) -> None:
    async with DuckDBStore(tmp_path / "db.duckdb") as store:
        await store.ensure_project("p1")
        batch = Batch(work_items=items("p1", 20_000))
        ticks = 0
        writing = asyncio.ensure_future(store.apply_batch(batch))
        while not writing.done():
            ticks += 1
            await asyncio.sleep(0)
        await writing
    assert ticks > 10  # the loop ran other work while DuckDB wrote


async def test_the_file_never_holds_a_credential_in_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    vault = Vault(parse_keys(generate_key(), "test"))
    async with DuckDBStore(path) as store:
        await store.ensure_project("p1")
        await store.create_integration(
            Integration(
                id="i1",
                project_id="p1",
                type="github",
                name="gh",
                # The control: the same marker in plain config must be findable on disk.
                config={"note": "CONTROL-" + SECRET},
                credentials=vault.encrypt({"token": SECRET, "webhookSecret": SECRET[::-1]}),
            )
        )
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"CONTROL-" + SECRET.encode() in on_disk  # the scan does see stored text
    assert SECRET.encode() not in on_disk.replace(b"CONTROL-" + SECRET.encode(), b"")
    assert SECRET[::-1].encode() not in on_disk


async def test_a_file_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreError) as raised:
            await DuckDBStore(path).open()
        assert str(raised.value).startswith("duckdb store: ")
        assert "lock" in str(raised.value).lower()
        assert "\n" not in str(raised.value)
    finally:
        holder.communicate("", timeout=10)


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "db.duckdb")
    with pytest.raises(StoreError, match="not open"):
        await store.get_project("p1")
    async with store:
        assert await store.ping()
    assert not await store.ping()
