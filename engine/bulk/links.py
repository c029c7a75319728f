"""Download links for exports too large to answer inline: short-lived, opaque, sealed.

A link's token is the export request itself (project, integration, format, filters, file
name, expiry), sealed with AES-256-GCM under a key derived from the vault's key
(``HMAC-SHA256(vault key, "kiro-sync export links v1")``), so

- it cannot be read or forged without the key, and every node holding the same
  ENCRYPTION_KEY serves it (nothing is stored; the file is produced when downloaded);
- it expires: past ``expires`` the link is refused;
- after a key rotation links sealed under an older key keep working while the vault still
  lists that key.

The token is a bearer credential for one export until it expires: it travels in the query
string, which the access log never records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.bulk.query import ExportQuery
from engine.errors import NotFoundError, ValidationError

_LABEL = b"kiro-sync export links v1"
_KID = 8
_NONCE = 12


@dataclass(frozen=True, slots=True)
class LinkedExport:
    """What a download link names."""

    query: ExportQuery
    format: str
    file_name: str
    expires: datetime


def _derive(key: bytes) -> tuple[bytes, AESGCM]:
    derived = hmac.new(key, _LABEL, hashlib.sha256).digest()
    return hashlib.sha256(derived).digest()[:_KID], AESGCM(derived)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ExportLinks:
    def __init__(self, keys: Sequence[bytes], clock: Callable[[], datetime] | None = None) -> None:
        derived = [_derive(key) for key in keys]
        self._primary = derived[0]
        self._by_id = dict(derived)
        self.clock = clock or _utcnow

    def issue(
        self, query: ExportQuery, format_name: str, file_name: str, seconds: float
    ) -> tuple[str, datetime]:
        """A token for the export and when it expires."""
        expires = self.clock() + timedelta(seconds=seconds)
        payload = {
            "p": query.project_id,
            "i": query.integration_id,
            "f": format_name,
            "n": file_name,
            "q": query.filters(),
            "e": int(expires.timestamp()),
        }
        kid, cipher = self._primary
        nonce = secrets.token_bytes(_NONCE)
        sealed = cipher.encrypt(nonce, orjson.dumps(payload), _LABEL)
        token = base64.urlsafe_b64encode(kid + nonce + sealed).rstrip(b"=").decode()
        return token, expires

    def open(self, token: str) -> LinkedExport:
        """The export a token names; NotFoundError when it is not one of ours or expired."""
        payload = self._unseal(token)
        try:
            expires = datetime.fromtimestamp(payload["e"], UTC)
            query = ExportQuery.from_filters(payload["p"], payload["i"], payload["q"])
            linked = LinkedExport(query, payload["f"], payload["n"], expires)
        except (KeyError, TypeError, ValueError, ValidationError):
            raise _invalid() from None
        if self.clock() >= expires:
            raise NotFoundError("Export link has expired; export again for a new one")
        return linked

    def _unseal(self, token: str) -> dict[str, Any]:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise _invalid() from None
        cipher = self._by_id.get(blob[:_KID])
        if cipher is None or len(blob) <= _KID + _NONCE:
            raise _invalid()
        try:
            plain = cipher.decrypt(blob[_KID : _KID + _NONCE], blob[_KID + _NONCE :], _LABEL)
        except InvalidTag:
            raise _invalid() from None
        payload = orjson.loads(plain)
        if not isinstance(payload, dict):
            raise _invalid()
        return payload


def _invalid() -> NotFoundError:
    return NotFoundError("Export link is not valid")
