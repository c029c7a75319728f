"""``kiro-sync keys``: generate, status and rotate against a real DuckDB file."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.store.base import Integration
from engine.store.duckdb import DuckDBStore
from engine.vault import Vault, blob_key_id, generate_key, parse_keys
from runtime.cli import keys

CREDENTIALS = {"token": "ghp_cli-test-secret-0123456789", "webhookSecret": "whsec-0123456789"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("KIRO_SYNC_DATABASE_URL", raising=False)
    monkeypatch.setenv("KIRO_SYNC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def main(argv: Sequence[str]) -> int:
    """``kiro-sync`` with only the keys group (the dispatcher itself is tested elsewhere)."""
    parser = argparse.ArgumentParser(prog="kiro-sync")
    keys.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def seed(db: Path, vault: Vault, count: int = 3) -> list[str]:
    async def run() -> list[str]:
        async with DuckDBStore(db) as store:
            await store.ensure_project("p1")
            for n in range(count):
                await store.create_integration(
                    Integration(
                        id=f"i{n}",
                        project_id="p1",
                        type="github",
                        name=f"gh{n}",
                        credentials=vault.encrypt({**CREDENTIALS, "n": n}),
                    )
                )
        return [f"i{n}" for n in range(count)]

    return asyncio.run(run())


def stored(db: Path) -> dict[str, bytes]:
    async def run() -> dict[str, bytes]:
        async with DuckDBStore(db) as store:
            return dict(await store.iter_credentials())

    return asyncio.run(run())


def test_generate_prints_a_fresh_valid_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate"]) == 0
    assert main(["keys", "generate"]) == 0
    first, second = capsys.readouterr().out.split()
    assert len(parse_keys(first, "out")[0]) == 32 and first != second


def test_rotate_with_the_key_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = home / "kiro-sync.duckdb"
    before = Vault.from_env()
    ids = seed(db, before)

    assert main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    assert "re-encrypted 3 credential(s)" in out

    after = Vault.from_env()
    assert len(after.keys) == 2 and after.keys[1] == before.keys[0]
    blobs = stored(db)
    assert {blob_key_id(b) for b in blobs.values()} == {after.primary_id}
    for n, integration_id in enumerate(ids):
        assert after.decrypt(blobs[integration_id], integration_id) == {**CREDENTIALS, "n": n}
    assert CREDENTIALS["token"] not in out


def test_rotate_can_retire_the_old_keys(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = home / "kiro-sync.duckdb"
    old = Vault.from_env()
    ids = seed(db, old)
    assert main(["keys", "rotate", "--retire-old", "--db", str(db)]) == 0
    assert "retired key(s)" in capsys.readouterr().out

    only_new = Vault.from_env()
    assert len(only_new.keys) == 1 and only_new.keys != old.keys
    blobs = stored(db)
    for integration_id in ids:
        assert (
            only_new.decrypt(blobs[integration_id], integration_id)["token"]
            == (CREDENTIALS["token"])
        )


def test_rotate_with_encryption_key_uses_its_first_key(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = home / "kiro-sync.duckdb"
    old, new = generate_key(), generate_key()
    monkeypatch.setenv("ENCRYPTION_KEY", old)
    seed(db, Vault.from_env())

    assert main(["keys", "rotate"]) == 2
    err = capsys.readouterr().err
    assert "holds a single key" in err and old not in err

    monkeypatch.setenv("ENCRYPTION_KEY", f"{new},{old}")
    assert main(["keys", "rotate"]) == 0
    assert "drop the others from ENCRYPTION_KEY" in capsys.readouterr().out
    assert not (home / "encryption.key").exists()
    only_new = Vault(parse_keys(new, "x"))
    assert all(only_new.decrypt(b, i) for i, b in stored(db).items())


def test_rotate_exits_1_when_a_credential_cannot_be_decrypted(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = home / "kiro-sync.duckdb"
    seed(db, Vault(parse_keys(generate_key(), "lost")), count=1)
    assert main(["keys", "rotate", "--retire-old"]) == 1
    captured = capsys.readouterr()
    assert "could not be decrypted" in captured.err and "i0" in captured.err
    assert len(Vault.from_env().keys) == 2  # nothing retired after a failure


def test_status_counts_credentials_per_key(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = home / "kiro-sync.duckdb"
    vault = Vault.from_env()
    seed(db, vault, count=2)
    assert main(["keys", "status"]) == 0
    out = capsys.readouterr().out
    assert f"{vault.primary_id}  2 credential(s)" in out


def test_a_bad_database_url_is_a_one_line_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "rotate", "--db", "mysql://x@y/z"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kiro-sync keys rotate: unsupported database URL scheme")
    assert "\n" not in err
