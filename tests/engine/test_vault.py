"""The credential vault: encryption, keys, rotation, masking."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError, DecryptError
from engine.store.sqlstore import SqlStore
from engine.vault import (
    Secret,
    Vault,
    blob_key_id,
    generate_key,
    mask,
    parse_keys,
    redact,
    rotate_credentials,
    scrub,
    secret_values,
    write_key_file,
)
from tests.engine.store.helpers import integration

CREDENTIALS = {"email": "ada@example.com", "apiToken": "ATATT3xFfGF0-very-secret", "n": 1}


def vault_of(*keys: str) -> Vault:
    return Vault(parse_keys(",".join(keys), "test"))


def test_round_trip_and_no_plaintext_in_the_blob() -> None:
    vault = vault_of(generate_key())
    blob = vault.encrypt(CREDENTIALS)
    assert vault.decrypt(blob, "i1") == CREDENTIALS
    assert b"very-secret" not in blob and b"apiToken" not in blob
    assert vault.encrypt(CREDENTIALS) != blob  # a fresh nonce every time


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = generate_key(), generate_key()
    under_old = vault_of(old).encrypt(CREDENTIALS)
    both = vault_of(new, old)
    assert both.decrypt(under_old, "i1") == CREDENTIALS
    assert blob_key_id(both.encrypt(CREDENTIALS)) == both.primary_id != blob_key_id(under_old)
    assert not both.is_current(under_old)


def test_a_missing_key_names_the_integration_not_the_secret() -> None:
    blob = vault_of(generate_key()).encrypt(CREDENTIALS)
    with pytest.raises(DecryptError) as raised:
        vault_of(generate_key()).decrypt(blob, "integration-42")
    message = str(raised.value)
    assert "integration integration-42" in message and "does not hold" in message
    assert raised.value.integration_id == "integration-42"
    assert "very-secret" not in message and "very-secret" not in repr(raised.value)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "corrupted or was tampered"),
        (lambda b: b"plain json", "not a kiro-sync blob"),
        (lambda b: b"", "not a kiro-sync blob"),
    ],
)
def test_damaged_blobs_are_decrypt_errors(mangle: object, reason: str) -> None:
    vault = vault_of(generate_key())
    blob = mangle(vault.encrypt(CREDENTIALS))  # type: ignore[operator]
    with pytest.raises(DecryptError, match=reason):
        vault.decrypt(blob, "i1")


@pytest.mark.parametrize("bad", ["short", "not base64 at all!!", generate_key()[:-8]])
def test_a_malformed_encryption_key_is_a_config_error_without_the_key(bad: str) -> None:
    with pytest.raises(ConfigError, match="key 2 is not 32 bytes") as raised:
        Vault.from_env({"ENCRYPTION_KEY": f"{generate_key()}, {bad}"})
    assert bad not in str(raised.value)


def test_encryption_key_from_the_environment_takes_precedence(tmp_path: Path) -> None:
    key = generate_key()
    vault = Vault.from_env({"ENCRYPTION_KEY": key}, home=tmp_path)
    assert vault.key_file is None and vault.keys == parse_keys(key, "x")
    assert not (tmp_path / "encryption.key").exists()


def test_a_key_is_generated_once_with_mode_0600_and_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="engine.vault")
    first = Vault.from_env({"KIRO_SYNC_HOME": str(tmp_path / "home")})
    path = tmp_path / "home" / "encryption.key"
    assert first.key_file == path and path.stat().st_mode & 0o777 == 0o600
    [record] = [
        r for r in caplog.records if "generated a new credential encryption key" in r.message
    ]
    assert str(path) in record.getMessage() and first.primary_id in record.getMessage()
    key_text = path.read_text().strip().splitlines()[-1]
    assert key_text not in caplog.text

    caplog.clear()
    second = Vault.from_env({"KIRO_SYNC_HOME": str(tmp_path / "home")})
    assert second.keys == first.keys and "generated" not in caplog.text
    assert second.decrypt(first.encrypt(CREDENTIALS), "i1") == CREDENTIALS


def test_a_readable_key_file_draws_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "encryption.key"
    write_key_file(path, parse_keys(generate_key(), "x"))
    path.chmod(0o644)
    Vault.from_env({"KIRO_SYNC_HOME": str(tmp_path)})
    assert "readable by others (mode 644)" in caplog.text


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.mkdir(), "Is a directory"),
        (lambda path: path.write_bytes(b"\xff\xfe not text"), "not UTF-8 text"),
    ],
)
def test_a_key_file_that_cannot_be_read_is_a_config_error(
    tmp_path: Path, make: Any, reason: str
) -> None:
    make(tmp_path / "encryption.key")
    with pytest.raises(ConfigError) as caught:
        Vault.from_env({"KIRO_SYNC_HOME": str(tmp_path)})
    assert caught.value.message == (
        f"cannot read the key file {tmp_path / 'encryption.key'}: {reason}"
    )


def test_a_data_directory_that_cannot_hold_the_key_file_is_a_config_error(tmp_path: Path) -> None:
    home = tmp_path / "not-a-directory"
    home.write_text("")
    with pytest.raises(ConfigError, match="cannot use the data directory: File exists"):
        Vault.from_env({"KIRO_SYNC_HOME": str(home)})
    with pytest.raises(ConfigError, match="cannot create the key file"):
        Vault.from_env({}, home)


def test_a_vault_rereads_its_key_file_for_a_key_added_later(tmp_path: Path) -> None:
    running = Vault.from_env({"KIRO_SYNC_HOME": str(tmp_path)})
    new = parse_keys(generate_key(), "x")[0]
    assert running.key_file is not None
    write_key_file(running.key_file, [new, *running.keys])  # what `keys rotate` does
    rotated = Vault([new, *running.keys]).encrypt(CREDENTIALS)
    assert running.decrypt(rotated, "i1") == CREDENTIALS
    assert running.keys[0] == new


async def test_rotation_re_encrypts_every_credential(store: SqlStore) -> None:
    old_key, new_key = generate_key(), generate_key()
    old = vault_of(old_key)
    ids = []
    for n in range(3):
        created = await integration(store, credentials=old.encrypt({**CREDENTIALS, "n": n}))
        ids.append(created.id)
    await integration(store)  # no credentials: nothing to rotate

    rotating = vault_of(new_key, old_key)
    report = await rotate_credentials(store, rotating, chunk=2)
    assert (report.rotated, report.current, report.failed) == (3, 0, [])
    assert report.key_id == rotating.primary_id

    only_new, only_old = vault_of(new_key), vault_of(old_key)
    stored = dict(await store.iter_credentials())
    assert sorted(stored) == sorted(ids)
    for n, integration_id in enumerate(ids):
        assert only_new.decrypt(stored[integration_id], integration_id)["n"] == n
        with pytest.raises(DecryptError):
            only_old.decrypt(stored[integration_id], integration_id)

    again = await rotate_credentials(store, rotating)
    assert (again.rotated, again.current) == (0, 3)


async def test_rotation_reports_what_it_cannot_decrypt(store: SqlStore) -> None:
    new_key, known_key, lost_key = generate_key(), generate_key(), generate_key()
    known = await integration(store, credentials=vault_of(known_key).encrypt(CREDENTIALS))
    lost = await integration(store, credentials=vault_of(lost_key).encrypt(CREDENTIALS))
    current = await integration(store, credentials=vault_of(new_key).encrypt(CREDENTIALS))
    before = dict(await store.iter_credentials())

    report = await rotate_credentials(store, vault_of(new_key, known_key))
    assert (report.rotated, report.current, report.failed) == (1, 1, [lost.id])
    after = dict(await store.iter_credentials())
    assert after[lost.id] == before[lost.id]  # left as it was, still readable by its key
    assert after[current.id] == before[current.id]
    assert vault_of(new_key).decrypt(after[known.id], known.id) == CREDENTIALS


def test_mask_shows_only_the_last_four_of_long_values() -> None:
    assert mask("ghp_abcdefghijklmnop1234") == "****1234"
    assert mask("short-pass") == "****"
    assert mask(None) == "****"
    assert mask(Secret("xoxb-1234567890-abcd")) == "****abcd"


def test_a_secret_never_prints_its_value() -> None:
    secret = Secret("xoxb-1234567890-abcd")
    logged = logging.LogRecord("t", logging.INFO, "f", 1, "token %s", (secret,), None)
    for text in (str(secret), repr(secret), f"{secret}", str([secret]), logged.getMessage()):
        assert "1234567890" not in text and "****abcd" in text
    assert secret.reveal() == "xoxb-1234567890-abcd"
    assert secret == Secret("xoxb-1234567890-abcd") and secret != Secret("other")
    assert not Secret("")


def test_redact_masks_secret_looking_keys_for_logs() -> None:
    event = {
        "integrationId": "i1",
        "credentials": {"email": "ada@example.com", "baseUrl": "https://x.atlassian.net"},
        "headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz", "Accept": "json"},
        "config": {"apiKey": "k" * 40, "syncFrequency": "hourly", "key": "trello-key-123456"},
        "items": [{"refresh_token": "r" * 30, "id": 5}],
        "secret": Secret("s" * 20),
        "password": 123456,
    }
    out = redact(event)
    assert out["integrationId"] == "i1"
    assert out["credentials"] == {"email": "****.com", "baseUrl": "****.net"}
    assert out["headers"] == {"Authorization": "****wxyz", "Accept": "json"}
    assert out["config"] == {"apiKey": "****kkkk", "syncFrequency": "hourly", "key": "****3456"}
    assert out["items"] == [{"refresh_token": "****rrrr", "id": 5}]
    assert out["secret"] == "****ssss" and out["password"] == "****"
    assert event["config"]["apiKey"] == "k" * 40  # the original is untouched


def test_scrub_masks_known_secret_values_in_free_text() -> None:
    credentials = {"token": "ghp_abcdefghijklmnop1234", "baseUrl": "https://ghe.example/api/v3"}
    text = "GET https://ghe.example/api/v3/user?access_token=ghp_abcdefghijklmnop1234 failed"
    scrubbed = scrub(text, secret_values(credentials))
    assert "ghp_abcdefghijklmnop1234" not in scrubbed
    assert "access_token=****1234" in scrubbed and "https://ghe.example/api/v3" in scrubbed


def test_a_key_file_being_created_elsewhere_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "encryption.key"
    first, second = parse_keys(generate_key(), "a"), parse_keys(generate_key(), "b")
    assert write_key_file(path, first, replace=False)
    assert not write_key_file(path, second, replace=False)  # the other process was first
    assert Vault.from_env({"KIRO_SYNC_HOME": str(tmp_path)}).keys == first
    assert [p.name for p in tmp_path.iterdir()] == ["encryption.key"]  # no temp files left
