"""Token verification (HS256, JWKS with rotation) and the role ladder."""

from __future__ import annotations

import json
import stat
import time

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from engine.errors import ConfigError
from runtime.auth import (
    JwksCache,
    Principal,
    TokenVerifier,
    Unauthorized,
    allows,
    bearer_token,
    build_verifier,
    load_or_create_secret,
    mint_token,
    signing_secret,
)

SECRET = "test-jwt-secret-with-enough-length-0123456789"


async def test_hs256_token_gives_the_user() -> None:
    verifier = TokenVerifier(SECRET, None)
    principal = await verifier.verify(mint_token(SECRET, "user-1"))
    assert principal == Principal(subject="user-1", role="authenticated")
    assert not principal.is_service


async def test_service_role_needs_no_subject() -> None:
    token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 60}, SECRET, "HS256")
    principal = await TokenVerifier(SECRET, None).verify(token)
    assert principal.is_service and principal.subject is None


@pytest.mark.parametrize(
    ("claims", "key", "message"),
    [
        ({"sub": "u", "exp": -120}, SECRET, "Token expired"),
        ({"sub": "u", "exp": 60}, "another-secret-entirely-0123456789", "Invalid"),
        ({"sub": "u"}, SECRET, "Invalid token"),  # no exp
        ({"role": "anon", "exp": 60}, SECRET, "no user"),
    ],
)
async def test_bad_tokens_are_unauthorized(claims: dict, key: str, message: str) -> None:
    # "exp" is given relative to now: parameters are built at collection, long before a run
    # late in the suite reaches this test.
    if "exp" in claims:
        claims = {**claims, "exp": int(time.time()) + claims["exp"]}
    token = jwt.encode(claims, key, "HS256")
    with pytest.raises(Unauthorized, match=message):
        await TokenVerifier(SECRET, None).verify(token)


async def test_alg_none_and_garbage_are_refused() -> None:
    unsigned = jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, None, algorithm="none")
    for token in (unsigned, "not.a.jwt", "garbage"):
        with pytest.raises(Unauthorized):
            await TokenVerifier(SECRET, None).verify(token)


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc.def") == "abc.def"
    assert bearer_token("bearer   tok ") == "tok"
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(Unauthorized):
            bearer_token(header)


def test_role_ladder() -> None:
    assert allows("owner", "admin") and allows("admin", "admin")
    assert allows("member", "member") and not allows("member", "admin")
    assert allows("viewer", "viewer") and not allows("viewer", "member")
    assert not allows(None, "viewer") and not allows("stranger", "viewer")


def test_generated_secret_is_kept_with_mode_0600(tmp_path) -> None:
    first = load_or_create_secret(tmp_path)
    assert len(first) >= 40
    assert load_or_create_secret(tmp_path) == first
    mode = stat.S_IMODE((tmp_path / "jwt.secret").stat().st_mode)
    assert mode == 0o600
    verifier = build_verifier(tmp_path, None, None)
    assert verifier.secret == first
    assert signing_secret(tmp_path, None, None) == first


def test_an_empty_secret_file_is_a_config_error(tmp_path) -> None:
    (tmp_path / "jwt.secret").write_text("\n")  # a crash between creating and writing it
    with pytest.raises(ConfigError, match="is empty: delete it"):
        build_verifier(tmp_path, None, None)  # was: every token refused as "Invalid token"
    with pytest.raises(ConfigError, match="is empty"):
        signing_secret(tmp_path, None, None)  # was: `kiro-sync token` crashed in PyJWT


def test_a_secret_file_that_cannot_be_read_is_a_config_error(tmp_path) -> None:
    (tmp_path / "jwt.secret").mkdir()
    with pytest.raises(ConfigError, match=r"cannot read the JWT secret file .*: Is a directory"):
        load_or_create_secret(tmp_path)


def test_a_data_directory_that_is_a_file_is_a_config_error(tmp_path) -> None:
    home = tmp_path / "home"
    home.write_text("")
    with pytest.raises(ConfigError, match="JWT secret file"):
        load_or_create_secret(home)


def test_signing_needs_a_secret_when_only_jwks(tmp_path) -> None:
    with pytest.raises(Exception, match="SUPABASE_JWT_SECRET"):
        signing_secret(tmp_path, None, "https://project.supabase.co")
    assert not (tmp_path / "jwt.secret").exists()


def _jwk(private_key, kid: str, alg: str) -> dict:
    public = jwt.algorithms.get_default_algorithms()[alg].to_jwk(private_key.public_key())
    return {**json.loads(public), "kid": kid, "alg": alg, "use": "sig"}


async def test_jwks_keys_cached_and_refreshed_on_unknown_kid(aiohttp_server, tmp_path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    published = {"keys": [_jwk(rsa_key, "k1", "RS256")]}
    fetches = []

    async def jwks(request: web.Request) -> web.Response:
        fetches.append(request.path)
        return web.json_response(published)

    app = web.Application()
    app.router.add_get("/auth/v1/.well-known/jwks.json", jwks)
    server = await aiohttp_server(app)
    verifier = build_verifier(tmp_path, None, str(server.make_url("")))
    assert isinstance(verifier.jwks, JwksCache)
    verifier.jwks.min_refresh = 0.0
    exp = int(time.time()) + 60
    try:
        token = jwt.encode({"sub": "u1", "exp": exp}, rsa_key, "RS256", headers={"kid": "k1"})
        assert (await verifier.verify(token)).subject == "u1"
        assert (await verifier.verify(token)).subject == "u1"
        assert len(fetches) == 1  # cached

        published["keys"].append(_jwk(ec_key, "k2", "ES256"))  # key rotation
        token2 = jwt.encode({"sub": "u2", "exp": exp}, ec_key, "ES256", headers={"kid": "k2"})
        assert (await verifier.verify(token2)).subject == "u2"
        assert len(fetches) == 2

        with pytest.raises(Unauthorized, match="unknown key"):
            forged = jwt.encode({"sub": "x", "exp": exp}, ec_key, "ES256", headers={"kid": "k9"})
            await verifier.verify(forged)
        hs = mint_token(SECRET, "u3")  # HS256 is refused without a configured secret
        with pytest.raises(Unauthorized):
            await verifier.verify(hs)
    finally:
        await verifier.close()
    assert not (tmp_path / "jwt.secret").exists()  # JWKS alone: no secret generated


async def test_jwks_cache_expires_so_a_removed_key_stops_working(aiohttp_server, tmp_path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published = {"keys": [_jwk(key, "old", "RS256")]}

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(published)

    app = web.Application()
    app.router.add_get("/auth/v1/.well-known/jwks.json", jwks)
    server = await aiohttp_server(app)
    verifier = build_verifier(tmp_path, None, str(server.make_url("")))
    assert isinstance(verifier.jwks, JwksCache)
    token = jwt.encode(
        {"sub": "u", "exp": int(time.time()) + 60}, key, "RS256", headers={"kid": "old"}
    )
    try:
        assert (await verifier.verify(token)).subject == "u"
        published["keys"] = []  # a broken or empty document keeps the known keys
        verifier.jwks.ttl = verifier.jwks.min_refresh = 0.0
        assert (await verifier.verify(token)).subject == "u"
        published["keys"] = [_jwk(rsa.generate_private_key(65537, 2048), "new", "RS256")]
        with pytest.raises(Unauthorized, match="unknown key"):  # revoked by rotation
            await verifier.verify(token)
    finally:
        await verifier.close()
