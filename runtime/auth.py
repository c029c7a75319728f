"""Supabase JWTs in, a ``Principal`` out; project roles decide what the principal may do.

Verification (``TokenVerifier``):

- HS256 tokens with ``SUPABASE_JWT_SECRET`` (or, when neither it nor SUPABASE_URL is set, a
  secret generated on first start and kept in ``HOME/jwt.secret`` with mode 0600, so
  ``kiro-sync token`` can mint tokens for a local server);
- asymmetric tokens (RS256, ES256, EdDSA) with the keys of
  ``SUPABASE_URL/auth/v1/.well-known/jwks.json``, cached for ``ttl`` seconds (600) and fetched
  again sooner when a token names a key id the cache does not hold (at most once per
  ``min_refresh`` seconds, 30).

A missing, malformed, expired or unverifiable token is ``Unauthorized`` (401).

Authorization: a ``service_role`` token acts on any project. Any other token acts as the user
in ``sub`` through ``project_members``: ``ROLE_RANK`` orders the roles and each action names
the least role it needs (``runtime/server/actions.py``). Too little is ``Forbidden`` (403).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import jwt

from engine.errors import ConfigError, KiroSyncError
from engine.paths import ensure_dir

log = logging.getLogger(__name__)

SECRET_FILE = "jwt.secret"
SERVICE_ROLE = "service_role"
ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA")
ProjectRole = Literal["owner", "admin", "member", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


class Unauthorized(KiroSyncError):
    """No valid token: answer 401."""

    error_class = "unauthorized"


class Forbidden(KiroSyncError):
    """A valid token without the role the action needs: answer 403."""

    error_class = "forbidden"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's subject and its Supabase role claim."""

    subject: str | None
    role: str

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE_ROLE

    @property
    def rate_key(self) -> str:
        return f"service:{self.subject or '-'}" if self.is_service else f"user:{self.subject}"


def allows(role: str | None, needed: ProjectRole) -> bool:
    """True when a project role is at least ``needed``; owner and admin rank the same."""
    if role is None:
        return False
    rank = min(ROLE_RANK.get(role, -1), ROLE_RANK["admin"])
    return rank >= min(ROLE_RANK[needed], ROLE_RANK["admin"])


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header, or Unauthorized."""
    if not header:
        raise Unauthorized("Missing authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


def load_or_create_secret(home: Path) -> str:
    """The generated HS256 secret of this data directory, created (mode 0600) when missing."""
    path = home / SECRET_FILE
    try:
        fd = os.open(ensure_dir(home) / SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    except OSError as exc:  # KIRO_SYNC_HOME is a file, or not writable
        reason = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
        raise ConfigError(f"cannot create the JWT secret file {path}: {reason}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    log.warning(
        "generated a JWT signing secret in %s (mode 0600); mint tokens with `kiro-sync token`, "
        "or set SUPABASE_JWT_SECRET / SUPABASE_URL to accept your Supabase project's tokens",
        path,
    )
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    """The secret in ``path``; ConfigError when it cannot be read or is empty (left so by a
    crash between creating and writing it: no token could be signed or verified with it)."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the JWT secret file {path}: {reason or exc}") from None
    if not secret:
        raise ConfigError(
            f"the JWT secret file {path} is empty: delete it to have a new secret generated, "
            "or set SUPABASE_JWT_SECRET"
        )
    return secret


def mint_token(secret: str, subject: str, role: str = "authenticated", ttl: int = 3600) -> str:
    """An HS256 token shaped like Supabase's, for local use and tests."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "aud": "authenticated",
        "iss": "kiro-sync",
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class JwksCache:
    """The signing keys of a Supabase project, fetched from its JWKS URL and cached."""

    def __init__(
        self, url: str, *, min_refresh: float = 30.0, ttl: float = 600.0, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.min_refresh = min_refresh
        self.ttl = ttl
        self.timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._session: aiohttp.ClientSession | None = None

    async def key(self, kid: str | None) -> jwt.PyJWK:
        age = time.monotonic() - self._fetched_at
        if kid in self._keys and age < self.ttl:
            return self._keys[kid]
        if age >= self.min_refresh:  # unknown kid (rotation) or stale cache (revocation)
            await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise Unauthorized("Token signed with an unknown key")

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with self._session.get(self.url, timeout=timeout) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("could not fetch the JWKS", extra={"error": type(exc).__name__})
            return
        keys = _parse_jwks(document)
        if keys:  # an empty or broken document keeps the keys we had
            self._keys = keys

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        keys[str(entry.get("kid", ""))] = key
    return keys


class TokenVerifier:
    """Checks a token's signature and expiry and returns the caller."""

    def __init__(self, secret: str | None, jwks: JwksCache | None, leeway: float = 30.0) -> None:
        if secret is None and jwks is None:
            raise ValueError("a token verifier needs a secret or a JWKS URL")
        self.secret = secret
        self.jwks = jwks
        self.leeway = leeway

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                await self._key(header),
                algorithms=[str(header.get("alg"))],
                leeway=self.leeway,
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token") from None
        return _principal(claims)

    async def _key(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if alg == "HS256" and self.secret is not None:
            return self.secret
        if alg in ASYMMETRIC and self.jwks is not None:
            return (await self.jwks.key(header.get("kid"))).key
        raise Unauthorized("Invalid token")

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()


def _principal(claims: dict[str, Any]) -> Principal:
    role = str(claims.get("role") or "authenticated")
    subject = claims.get("sub")
    if role != SERVICE_ROLE and not (isinstance(subject, str) and subject):
        raise Unauthorized("Token has no user (sub)")
    return Principal(subject=subject if isinstance(subject, str) else None, role=role)


def build_verifier(home: Path, jwt_secret: str | None, supabase_url: str | None) -> TokenVerifier:
    """The verifier for these settings; generates the local secret when nothing is set."""
    jwks = None
    if supabase_url:
        jwks = JwksCache(supabase_url.rstrip("/") + "/auth/v1/.well-known/jwks.json")
    if jwt_secret is None and jwks is None:
        jwt_secret = load_or_create_secret(home)
    return TokenVerifier(jwt_secret, jwks)


def signing_secret(home: Path, jwt_secret: str | None, supabase_url: str | None) -> str:
    """The secret ``kiro-sync token`` signs with (the verifier's HS256 secret)."""
    if jwt_secret:
        return jwt_secret
    if supabase_url:
        raise KiroSyncError(
            "SUPABASE_URL verifies asymmetric tokens only; set SUPABASE_JWT_SECRET to mint tokens"
        )
    return load_or_create_secret(home)
