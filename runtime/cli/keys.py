"""``kiro-sync keys``: credential encryption keys.

    kiro-sync keys generate          print a new key (for ENCRYPTION_KEY)
    kiro-sync keys status            key ids, and how many stored credentials use each
    kiro-sync keys rotate            re-encrypt every stored credential under a new key

``rotate`` with a key file (no ENCRYPTION_KEY): a new key goes in front of
``<data dir>/encryption.key``, the old ones stay listed (so anything not yet re-encrypted still
decrypts), then every credential is re-encrypted; ``--retire-old`` drops the old keys once all
succeeded. With ENCRYPTION_KEY: put the new key first (``ENCRYPTION_KEY=<new>,<old>``) and
run rotate; drop the old key from the variable afterwards. An embedded DuckDB file can be
opened by one process at a time: stop ``kiro-sync serve`` first (Postgres needs no pause).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections import Counter
from collections.abc import Mapping

from engine.errors import KiroSyncError
from engine.paths import HOME_ENV, home_dir, key_path
from engine.store import open_store
from engine.vault import (
    KEY_BYTES,
    KEY_ENV,
    RotationReport,
    Vault,
    blob_key_id,
    fingerprint,
    generate_key,
    load_or_create_key_file,
    parse_keys,
    rotate_credentials,
    write_key_file,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("keys", help="credential encryption keys")
    keys.set_defaults(handler=lambda _args: _usage(keys))
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    generate = actions.add_parser("generate", help="print a new key for ENCRYPTION_KEY")
    generate.set_defaults(handler=_generate)
    status = actions.add_parser("status", help="key ids and the credentials under each")
    _store_arguments(status)
    status.set_defaults(handler=_status)
    rotate = actions.add_parser("rotate", help="re-encrypt every credential under a new key")
    _store_arguments(rotate)
    rotate.add_argument(
        "--retire-old",
        action="store_true",
        help="after a complete rotation, drop the old keys from the key file",
    )
    rotate.set_defaults(handler=_rotate)


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="postgresql://... or a DuckDB file (default: $KIRO_SYNC_DATABASE_URL, "
        "else <data dir>/kiro-sync.duckdb)",
    )
    parser.add_argument(
        "--home", metavar="DIR", help="data directory (default: $KIRO_SYNC_HOME or ./.kiro-sync)"
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _environment(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if getattr(args, "home", None):
        env[HOME_ENV] = args.home
    return env


def _generate(_args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def _status(args: argparse.Namespace) -> int:
    env = _environment(args)
    try:
        vault = Vault.from_env(env)
        blobs = asyncio.run(_credentials(args.db, env))
    except KiroSyncError as exc:
        return _fail("status", exc)
    counts = Counter(blob_key_id(blob) for _, blob in blobs)
    print(f"keys from {vault.source} (first encrypts):")
    for key in vault.keys:
        print(f"  {fingerprint(key)}  {counts.pop(fingerprint(key), 0)} credential(s)")
    for unknown, count in sorted(counts.items()):
        print(f"  {unknown}  {count} credential(s) under a key not listed: they cannot decrypt")
    return 0


async def _credentials(db: str | None, env: Mapping[str, str]) -> list[tuple[str, bytes]]:
    store = await open_store(db, env=env)
    try:
        return await store.iter_credentials()
    finally:
        await store.close()


def _rotate(args: argparse.Namespace) -> int:
    env = _environment(args)
    try:
        report, vault = asyncio.run(_rotate_store(args.db, env))
    except KiroSyncError as exc:
        return _fail("rotate", exc)
    print(
        f"re-encrypted {report.rotated} credential(s) under key {report.key_id}; "
        f"{report.current} already used it"
    )
    if report.failed:
        print(
            f"{len(report.failed)} credential(s) could not be decrypted with any key and were "
            f"left as they are: integrations {', '.join(report.failed)}",
            file=sys.stderr,
        )
        return 1
    _retire(vault, args.retire_old)
    return 0


async def _rotate_store(db: str | None, env: Mapping[str, str]) -> tuple[RotationReport, Vault]:
    store = await open_store(db, env=env)
    try:
        vault = _rotation_vault(env)
        return await rotate_credentials(store, vault), vault
    finally:
        await store.close()


def _rotation_vault(env: Mapping[str, str]) -> Vault:
    """The vault to rotate with: ENCRYPTION_KEY's list, or the key file with a new key first."""
    text = env.get(KEY_ENV, "").strip()
    if text:
        keys = parse_keys(text, KEY_ENV)
        if len(keys) < 2:
            raise KiroSyncError(
                f"{KEY_ENV} holds a single key: put the new key first "
                f"({KEY_ENV}=<new>,<old>; `kiro-sync keys generate` prints one), then rotate"
            )
        return Vault(keys)
    path = key_path(home_dir(env))
    old = load_or_create_key_file(path)
    new = secrets.token_bytes(KEY_BYTES)
    write_key_file(path, [new, *old])
    print(f"added key {fingerprint(new)} to {path}; old keys kept for decrypting")
    return Vault([new, *old], key_file=path)


def _retire(vault: Vault, retire_old: bool) -> None:
    old = [fingerprint(k) for k in vault.keys[1:]]
    if not old:
        return
    if vault.key_file is None:
        print(
            f"every credential uses key {vault.primary_id}: you may drop the others from {KEY_ENV}"
        )
    elif retire_old:
        write_key_file(vault.key_file, vault.keys[:1])
        print(f"retired key(s) {', '.join(old)} from {vault.key_file}")


def _fail(action: str, exc: KiroSyncError) -> int:
    print(f"kiro-sync keys {action}: {exc}", file=sys.stderr)
    return 2
