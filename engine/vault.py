"""Credentials encrypted at rest, key rotation, and keeping secrets out of logs.

Keys
    A key is 32 random bytes written as urlsafe base64 (44 characters, ``=`` padding
    optional): ``kiro-sync keys generate`` prints one. ``ENCRYPTION_KEY`` holds one key or a
    comma-separated list: the first encrypts, every one decrypts. Without ENCRYPTION_KEY the
    keys live in ``<data dir>/encryption.key`` (one per line, first encrypts, ``#`` comments),
    generated with mode 0600 on first start, with a warning in the log (never the key).

Blobs
    AES-256-GCM: ``b"ks1" + key id (8 bytes) + nonce (12) + ciphertext and tag``. The key id
    is a SHA-256 fingerprint of the key, so decrypting picks the right key directly and a
    blob written under an unknown key says so. The plaintext is the credentials dict as JSON.

Rotation
    ``rotate_credentials(store, vault)`` re-encrypts every stored credential under the first
    key; blobs under older keys keep decrypting while old keys stay listed. ``kiro-sync keys
    rotate`` adds a fresh key in front of the key file first (or uses ENCRYPTION_KEY's first).
    A vault reading a key file re-reads it when it meets an unknown key id, so a running
    server picks up a rotation done by the CLI.

Masking
    ``mask("ghp_abcdef123456")`` is ``"****3456"`` (the last 4 characters, only for values of
    12 characters or more); ``Secret`` holds a value whose ``str``/``repr`` are masked;
    ``redact(obj)`` masks secret-looking keys in nested dicts for logs; ``scrub(text, secrets)``
    masks known secret values inside free text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import ConfigError, DecryptError
from engine.paths import home_dir, key_path

log = logging.getLogger(__name__)

KEY_ENV: Final = "ENCRYPTION_KEY"
KEY_BYTES: Final = 32
MAGIC: Final = b"ks1"
KEY_ID_BYTES: Final = 8
NONCE_BYTES: Final = 12
AAD: Final = b"kiro-sync credentials v1"
HEADER: Final = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES


def generate_key() -> str:
    """A new key: 32 random bytes as urlsafe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"kiro-sync key id:" + key).digest()[:KEY_ID_BYTES]


def fingerprint(key: bytes) -> str:
    """A short public name for a key (safe to print and log)."""
    return key_id(key).hex()


def blob_key_id(blob: bytes) -> str:
    """The fingerprint of the key a blob was encrypted with ("" if it is not a vault blob)."""
    data = bytes(blob)
    if len(data) <= HEADER or not data.startswith(MAGIC):
        return ""
    return data[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES].hex()


def parse_keys(text: str, source: str) -> list[bytes]:
    """Keys from a comma- or newline-separated list; ``#`` starts a comment line."""
    entries = [
        e.strip()
        for line in text.splitlines()
        if not line.strip().startswith("#")
        for e in line.split(",")
    ]
    keys = [_decode_key(e, n, source) for n, e in enumerate((e for e in entries if e), 1)]
    if not keys:
        raise ConfigError(f"{source} holds no key; `kiro-sync keys generate` prints one")
    return keys


def _decode_key(entry: str, number: int, source: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(entry + "=" * (-len(entry) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            f"{source}: key {number} is not {KEY_BYTES} bytes of urlsafe base64 "
            "(`kiro-sync keys generate` prints a valid one)"
        )
    return raw


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


class Vault:
    """Encrypts credential dicts under the first key; decrypts under any known key."""

    def __init__(self, keys: Sequence[bytes], *, key_file: Path | None = None) -> None:
        self.key_file = key_file
        self._use(keys)

    def _use(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigError("the vault needs at least one key")
        self._keys = list(keys)
        self._by_id = {key_id(k): AESGCM(k) for k in self._keys}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, home: Path | None = None) -> Vault:
        """Keys from ENCRYPTION_KEY, else from the data dir's key file (made when missing)."""
        environ = os.environ if env is None else env
        text = environ.get(KEY_ENV, "").strip()
        if text:
            return cls(parse_keys(text, KEY_ENV))
        try:
            path = key_path(home if home is not None else home_dir(environ))
        except OSError as exc:  # KIRO_SYNC_HOME is a file, or cannot be created
            raise ConfigError(f"cannot use the data directory: {_os_reason(exc)}") from None
        return cls(load_or_create_key_file(path), key_file=path)

    @property
    def source(self) -> str:
        return str(self.key_file) if self.key_file else KEY_ENV

    @property
    def keys(self) -> list[bytes]:
        return list(self._keys)

    @property
    def primary_id(self) -> str:
        return fingerprint(self._keys[0])

    def __repr__(self) -> str:
        return f"Vault(keys={len(self._keys)}, primary={self.primary_id}, source={self.source!r})"

    def encrypt(self, credentials: Mapping[str, Any]) -> bytes:
        plaintext = orjson.dumps(dict(credentials))
        nonce = secrets.token_bytes(NONCE_BYTES)
        primary = self._keys[0]
        sealed = self._by_id[key_id(primary)].encrypt(nonce, plaintext, AAD)
        return MAGIC + key_id(primary) + nonce + sealed

    def decrypt(self, blob: bytes, integration_id: str) -> dict[str, Any]:
        """The credentials dict; DecryptError naming the integration (never the secret)."""
        blob = bytes(blob)
        if len(blob) <= HEADER or not blob.startswith(MAGIC):
            raise _decrypt_error(integration_id, "the stored value is not a kiro-sync blob")
        kid = blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]
        cipher = self._by_id.get(kid) or self._reload_for(kid)
        if cipher is None:
            raise _decrypt_error(
                integration_id,
                f"it was encrypted with key {kid.hex()}, which {self.source} does not hold",
            )
        try:
            plaintext = cipher.decrypt(blob[HEADER - NONCE_BYTES : HEADER], blob[HEADER:], AAD)
        except InvalidTag:
            raise _decrypt_error(
                integration_id, "the blob is corrupted or was tampered with"
            ) from None
        value = orjson.loads(plaintext)
        if not isinstance(value, dict):
            raise _decrypt_error(integration_id, "the decrypted value is not an object")
        return value

    def is_current(self, blob: bytes) -> bool:
        """Whether the blob is already encrypted under the first key."""
        return blob_key_id(blob) == self.primary_id

    def _reload_for(self, kid: bytes) -> AESGCM | None:
        """Re-read the key file (a rotation may have added keys) and look again."""
        if self.key_file is None or not self.key_file.exists():
            return None
        keys = parse_keys(read_key_file(self.key_file), str(self.key_file))
        if kid not in {key_id(k) for k in keys}:
            return None
        self._use(keys)
        return self._by_id[kid]


def _decrypt_error(integration_id: str, reason: str) -> DecryptError:
    return DecryptError(
        f"credentials of integration {integration_id} cannot be decrypted: {reason}",
        integration_id=integration_id,
    )


# --- the key file -----------------------------------------------------------------------------

KEY_FILE_HEADER = (
    "# kiro-sync credential encryption keys: the first line encrypts, every line decrypts.\n"
    "# Keep a copy somewhere safe: without these keys stored credentials cannot be read.\n"
)


def load_or_create_key_file(path: Path) -> list[bytes]:
    """The keys in ``path``; a new key file (mode 0600) when there is none yet. ConfigError
    when it can be neither read nor created."""
    try:
        return _load_or_create(path)
    except OSError as exc:  # the directory is not writable, a parent is a file...
        raise ConfigError(f"cannot create the key file {path}: {_os_reason(exc)}") from None


def _os_reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _load_or_create(path: Path) -> list[bytes]:
    if not path.exists():
        key = secrets.token_bytes(KEY_BYTES)
        if write_key_file(path, [key], replace=False):
            log.warning(
                "generated a new credential encryption key in %s (mode 0600, key id %s); "
                "back it up, or set %s to manage keys yourself",
                path,
                fingerprint(key),
                KEY_ENV,
            )
            return [key]
    mode = path.stat().st_mode & 0o777
    if mode & 0o077 and path.is_file():
        log.warning("key file %s is readable by others (mode %o); run chmod 600 on it", path, mode)
    return parse_keys(read_key_file(path), str(path))


def read_key_file(path: Path) -> str:
    """The key file's text; ConfigError when it cannot be read (a directory, not UTF-8...)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the key file {path}: {reason or exc}") from None


def write_key_file(path: Path, keys: Sequence[bytes], *, replace: bool = True) -> bool:
    """Write ``keys`` (mode 0600) atomically; with ``replace=False`` never overwrite.

    Returns False when ``replace`` is off and another process created the file first.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = KEY_FILE_HEADER + f"# written {stamp}\n" + "".join(encode_key(k) + "\n" for k in keys)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)  # fails if the file appeared meanwhile: keep the other one
        except FileExistsError:
            return False
        return True
    finally:
        temp.unlink(missing_ok=True)


# --- rotation ---------------------------------------------------------------------------------


class CredentialStore(Protocol):
    async def iter_credentials(self) -> list[tuple[str, bytes]]: ...
    async def set_credentials_many(self, items: Sequence[tuple[str, bytes]]) -> None: ...


@dataclass
class RotationReport:
    key_id: str
    rotated: int = 0
    current: int = 0
    failed: list[str] = field(default_factory=list)  # integration ids that did not decrypt


async def rotate_credentials(
    store: CredentialStore, vault: Vault, chunk: int = 500
) -> RotationReport:
    """Re-encrypt every stored credential not yet under the vault's first key."""
    report = RotationReport(key_id=vault.primary_id)
    pending: list[tuple[str, bytes]] = []
    for integration_id, blob in await store.iter_credentials():
        if vault.is_current(blob):
            report.current += 1
            continue
        try:
            pending.append((integration_id, vault.encrypt(vault.decrypt(blob, integration_id))))
        except DecryptError:
            report.failed.append(integration_id)
    for start in range(0, len(pending), chunk):
        await store.set_credentials_many(pending[start : start + chunk])
    report.rotated = len(pending)
    return report


# --- masking ----------------------------------------------------------------------------------

MASK: Final = "****"
REVEAL_FROM: Final = 12  # values shorter than this show no characters at all

SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|api[-_]?key|^key$|authori[sz]ation|credential|"
    r"private[-_]?key|signature|cookie|session|bearer",
    re.IGNORECASE,
)


def mask(value: Any) -> str:
    """``****`` plus the last 4 characters of values at least 12 characters long."""
    text = "" if value is None else str(value.reveal() if isinstance(value, Secret) else value)
    return MASK + text[-4:] if len(text) >= REVEAL_FROM else MASK


class Secret:
    """A secret string that prints masked; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({mask(self._value)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(obj: Any, *, _inside_secret: bool = False) -> Any:
    """A copy of ``obj`` for logs: values under secret-looking keys masked, Secrets masked."""
    if isinstance(obj, Secret):
        return mask(obj)
    if isinstance(obj, Mapping):
        return {
            k: redact(v, _inside_secret=_inside_secret or bool(SECRET_NAME.search(str(k))))
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v, _inside_secret=_inside_secret) for v in obj]
    if _inside_secret and obj is not None and not isinstance(obj, bool):
        return mask(obj)
    return obj


def scrub(text: str, secret_values: Iterable[Any]) -> str:
    """``text`` with every known secret value (4+ characters) replaced by its mask."""
    values = {str(v.reveal() if isinstance(v, Secret) else v) for v in secret_values if v}
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, mask(value))
    return text


def secret_values(credentials: Mapping[str, Any], *, _all: bool = False) -> list[str]:
    """The values under secret-looking keys of a credentials dict (to ``scrub`` from text)."""
    found: list[str] = []
    for name, value in credentials.items():
        secret = _all or bool(SECRET_NAME.search(str(name)))
        if isinstance(value, Mapping):
            found.extend(secret_values(value, _all=secret))
        elif isinstance(value, Secret):
            found.append(value.reveal())
        elif secret and isinstance(value, str):
            found.append(value)
    return found
