"""Authentication: static tokens, HS256 and RS256 JWTs, JWKS rotation, claims, roles and tenant scopes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collector.auth.extension import AuthExtension
from collector.auth.principal import Authenticator, AuthError, ForbiddenError, Principal, Role, TenantScope
from collector.auth.tokens import token_key
from collector.httpserver import HttpServer
from tests.collector.auth import (
    OTHER_RSA_KEY,
    RSA_KEY,
    SECRET,
    FakeHost,
    bearer,
    forged,
    hs256,
    make_auth,
    public_pem,
    rs256,
)

HS = f"jwt: {{secret: {SECRET}}}\n"


async def started(auth_body: str) -> AuthExtension:
    auth = make_auth(auth_body)
    await auth.start(FakeHost())  # type: ignore[arg-type]
    return auth


async def refused(auth: AuthExtension, token: str) -> str:
    """The AuthError message for `token` (which must never appear in it)."""
    with pytest.raises(AuthError) as info:
        await auth.authenticate(bearer(token))
    assert token not in str(info.value)
    return str(info.value)


def pem_block(key: rsa.RSAPrivateKey = RSA_KEY) -> str:
    """`  public_key: |` with the PEM of `key`, as YAML inside the `jwt` section."""
    return "  public_key: |\n" + "".join(f"    {line}\n" for line in public_pem(key).splitlines())


def test_the_extension_is_an_authenticator() -> None:
    authenticator: Authenticator = make_auth("tokens: [{token: t}]\n")
    assert authenticator.tenant_attribute == "tenant.id"


# --- the Authorization header and static tokens ---------------------------------------------------


async def test_static_tokens_stand_for_their_subject_role_and_tenants(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-from-file\n")
    auth = await started(
        f"""
        tokens:
          - {{token: tok-a, subject: app-a, tenants: [acme, beta], role: editor}}
          - {{token_file: {tmp_path}/token}}
        """
    )
    assert await auth.authenticate(bearer("tok-a")) == Principal(
        subject="app-a", role=Role.EDITOR, tenants=frozenset({"acme", "beta"}), key=token_key("tok-a")
    )
    assert await auth.authenticate({"authorization": "bearer  tok-from-file "}) == Principal(
        subject="token-1", role=Role.VIEWER, tenants=None, key=token_key("tok-from-file")
    )
    assert len(token_key("tok-a")) == 16 and "tok-a" not in token_key("tok-a")
    assert await refused(auth, "tok-b") == "the bearer token is not one of the configured tokens"
    await auth.shutdown()


async def test_the_authorization_header_must_hold_one_bearer_token() -> None:
    auth = make_auth("tokens: [{token: tok-a}]\n")  # not started: tokens load on first use
    cases = {
        "": "no bearer token in the Authorization header",
        "Bearer ": "no bearer token in the Authorization header",
        "Basic dXNlcjpwYXNz": "the Authorization header must use the Bearer scheme",
        "tok-a": "the Authorization header must use the Bearer scheme",
        "Bearer tok-a, Bearer tok-b": "the Authorization header holds no single bearer token",
    }
    for header, message in cases.items():
        with pytest.raises(AuthError) as info:
            await auth.authenticate({"authorization": header} if header else {})
        assert str(info.value) == message
        assert type(info.value) is AuthError and info.value.status == 401
    assert (await auth.authenticate({"authorization": "BEARER tok-a"})).subject == "token-0"


# --- HS256 ----------------------------------------------------------------------------------------


async def test_an_hs256_token_gives_its_subject_tenants_and_highest_role() -> None:
    auth = await started(HS)
    token = hs256({"sub": "alice", "tenant": ["acme", "beta"], "roles": ["viewer", "admin", "editor"]})
    assert await auth.authenticate(bearer(token)) == Principal(
        subject="alice", role=Role.ADMIN, tenants=frozenset({"acme", "beta"}), key=token_key(token)
    )
    assert await refused(auth, hs256({"sub": "eve"}, secret="another-secret-another-secret-!!")) == (
        "the token's signature is invalid"
    )
    await auth.shutdown()


async def test_tenant_and_roles_claims_take_a_string_a_list_or_nothing() -> None:
    auth = await started(HS)

    async def principal(claims: dict[str, Any]) -> Principal:
        return await auth.authenticate(bearer(hs256(claims)))

    assert (await principal({"tenant": "acme"})).tenants == frozenset({"acme"})
    assert (await principal({"tenant": ["acme", "beta"]})).tenants == frozenset({"acme", "beta"})
    assert (await principal({})).tenants is None
    assert (await principal({"tenant": []})).tenants == frozenset()
    assert (await principal({})).role is Role.VIEWER
    assert (await principal({"roles": "admin"})).role is Role.ADMIN
    assert (await principal({"roles": ["Editor", "viewer"]})).role is Role.EDITOR
    assert (await principal({"roles": ["billing", "viewer"]})).role is Role.VIEWER
    assert (await principal({})).subject.startswith("jwt-")
    assert await refused(auth, hs256({"tenant": 7})) == (
        "the token's 'tenant' claim must be a string or a list of strings"
    )
    assert await refused(auth, hs256({"roles": [1]})) == (
        "the token's 'roles' claim must be a string or a list of strings"
    )
    await auth.shutdown()


async def test_claim_names_are_configurable() -> None:
    auth = await started(f"jwt: {{secret: {SECRET}, tenant_claim: org, roles_claim: groups}}\n")
    found = await auth.authenticate(bearer(hs256({"org": "acme", "groups": "editor", "tenant": "x"})))
    assert (found.tenants, found.role) == (frozenset({"acme"}), Role.EDITOR)


def test_roles_are_ordered() -> None:
    editor = Principal("e", Role.EDITOR, None, "k")
    assert editor.allows(Role.VIEWER) and editor.allows(Role.EDITOR)
    assert not editor.allows(Role.ADMIN)
    assert sorted([Role.ADMIN, Role.VIEWER, Role.EDITOR]) == [Role.VIEWER, Role.EDITOR, Role.ADMIN]


async def test_exp_and_nbf_are_checked_with_the_leeway() -> None:
    auth = await started(HS)  # leeway 30s
    now = int(time.time())
    assert await refused(auth, hs256({"exp": now - 60})) == "the token has expired"
    assert (await auth.authenticate(bearer(hs256({"sub": "late", "exp": now - 10})))).subject == "late"
    assert await refused(auth, hs256({"nbf": now + 120})) == (
        "the token is not valid yet (nbf or iat is in the future)"
    )
    assert (await auth.authenticate(bearer(hs256({"sub": "early", "nbf": now + 10})))).subject == "early"
    strict = await started(f"jwt: {{secret: {SECRET}, leeway: 0s}}\n")
    assert await refused(strict, hs256({"exp": now - 10})) == "the token has expired"


async def test_issuer_and_audience_are_checked_when_configured() -> None:
    auth = await started(f"jwt: {{secret: {SECRET}, issuer: https://idp.example, audience: airis}}\n")
    good = {"iss": "https://idp.example", "aud": ["other", "airis"], "sub": "ok"}
    assert (await auth.authenticate(bearer(hs256(good)))).subject == "ok"
    assert await refused(auth, hs256({**good, "iss": "https://evil.example"})) == (
        "the token's issuer is not 'https://idp.example'"
    )
    assert await refused(auth, hs256({**good, "aud": "other"})) == (
        "the token's audience does not include 'airis'"
    )
    assert await refused(auth, hs256({"iss": "https://idp.example"})) == "the token has no 'aud' claim"
    unchecked = await started(HS)
    found = await unchecked.authenticate(bearer(hs256({"iss": "x", "aud": "y", "sub": "any"})))
    assert found.subject == "any"


async def test_garbage_and_unsupported_algorithms_are_refused() -> None:
    auth = await started(HS)
    assert (
        await refused(auth, "not-a-jwt") == "the bearer token is neither a configured token nor a valid JWT"
    )
    unsigned = jwt.encode({"sub": "root", "roles": "admin"}, "", algorithm="none")
    assert (
        await refused(auth, unsigned) == "the token's algorithm 'none' is not accepted (HS256 or RS256 only)"
    )
    hs512 = jwt.encode({"sub": "x"}, SECRET + SECRET, algorithm="HS512")
    assert await refused(auth, hs512) == "the token's algorithm 'HS512' is not accepted (HS256 or RS256 only)"
    assert await refused(auth, rs256({"sub": "x"})) == (
        "RS256 tokens are not accepted here (no jwt::public_key or jwt::jwks_url)"
    )
    header, _, signature = hs256({"sub": "x"}).split(".")
    _, payload, _ = hs256({"sub": "x", "roles": "admin"}).split(".")
    assert await refused(auth, f"{header}.{payload}.{signature}") == "the token's signature is invalid"


# --- RS256 ----------------------------------------------------------------------------------------


async def test_an_rs256_token_is_checked_with_the_public_key() -> None:
    auth = await started(f"jwt:\n{pem_block()}")
    token = rs256({"sub": "bob", "tenant": "acme", "roles": ["editor"]})
    found = await auth.authenticate(bearer(token))
    assert (found.subject, found.role, found.tenants) == ("bob", Role.EDITOR, frozenset({"acme"}))
    assert await refused(auth, rs256({"sub": "bob"}, key=OTHER_RSA_KEY)) == "the token's signature is invalid"
    assert await refused(auth, hs256({"sub": "bob"})) == (
        "HS256 tokens are not accepted here (no jwt::secret is configured)"
    )


async def test_an_hs256_token_signed_with_the_public_key_is_refused() -> None:
    pem = public_pem().encode()
    attack = forged({"alg": "HS256", "typ": "JWT"}, {"sub": "mallory", "roles": "admin"}, pem)
    rsa_only = await started(f"jwt:\n{pem_block()}")
    assert (
        await refused(rsa_only, attack) == "HS256 tokens are not accepted here (no jwt::secret is configured)"
    )
    both = await started(f"jwt:\n  secret: {SECRET}\n{pem_block()}")
    assert both.jwt is not None and both.jwt.config.secret == SECRET
    assert await refused(both, attack) == "the token's signature is invalid"
    # the same attack through the JWKS path: the kid only ever selects an RSA key
    attack_kid = forged({"alg": "HS256", "kid": "k1"}, {"sub": "mallory"}, pem)
    assert (
        await refused(rsa_only, attack_kid)
        == "HS256 tokens are not accepted here (no jwt::secret is configured)"
    )


# --- JWKS -----------------------------------------------------------------------------------------


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "use": "sig", "alg": "RS256"}


class JwksServer:
    """A real HTTP server publishing a JWKS the test can rotate."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.requests = 0

        async def jwks(request: Request) -> JSONResponse:
            self.requests += 1
            return JSONResponse({"keys": self.keys}, status_code=self.status)

        self.server = HttpServer(Starlette(routes=[Route("/jwks", jwks)]), "127.0.0.1:0", "jwks")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/jwks"


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    served = JwksServer()
    await served.server.start()
    yield served
    await served.server.shutdown()


async def test_jwks_keys_are_picked_by_kid_and_rotated_on_demand(jwks_server: JwksServer) -> None:
    jwks_server.keys = [jwk(RSA_KEY, "k1"), {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}]
    auth = await started(f"jwt: {{jwks_url: '{jwks_server.url}'}}\n")
    assert jwks_server.requests == 1  # fetched at start
    assert (await auth.authenticate(bearer(rs256({"sub": "a"}, kid="k1")))).subject == "a"
    assert await refused(auth, rs256({"sub": "a"}, kid="k1", key=OTHER_RSA_KEY)) == (
        "the token's signature is invalid"
    )
    assert jwks_server.requests == 1

    jwks_server.keys = [jwk(OTHER_RSA_KEY, "k2")]  # the identity provider rotates its key
    rotated = bearer(rs256({"sub": "b"}, key=OTHER_RSA_KEY, kid="k2"))
    found = await asyncio.gather(*(auth.authenticate(rotated) for _ in range(5)))
    assert [p.subject for p in found] == ["b"] * 5
    assert jwks_server.requests == 2  # the unknown kid made it fetch again, once for all five

    # kid k1 is gone now; more unknown kids within 30 s are refused without fetching again
    assert await refused(auth, rs256({"sub": "a"}, kid="k1")) == (
        f"unknown kid 'k1': the JWKS at {jwks_server.url} has no such key"
    )
    assert await refused(auth, rs256({"sub": "x"}, kid="nope")) == (
        f"unknown kid 'nope': the JWKS at {jwks_server.url} has no such key"
    )
    # a symmetric key in the JWKS is never used, whatever the token's alg says
    assert await refused(auth, forged({"alg": "HS256", "kid": "sym"}, {"sub": "m"}, b"secret")) == (
        "HS256 tokens are not accepted here (no jwt::secret is configured)"
    )
    assert await refused(auth, rs256({"sub": "x"})) == "the token names no kid to pick its key from the JWKS"
    assert jwks_server.requests == 2
    await auth.shutdown()
    await auth.shutdown()


async def test_a_jwks_fetch_failure_at_start_is_logged_and_retried_on_use(
    jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    jwks_server.status = 503
    auth = make_auth(f"jwt: {{jwks_url: '{jwks_server.url}'}}\n")
    with caplog.at_level(logging.WARNING, logger="auth"):
        await auth.start(FakeHost())  # type: ignore[arg-type]
    assert [r.getMessage() for r in caplog.records] == [
        f"the JWKS at {jwks_server.url} answered HTTP 503; trying again later"
    ]
    jwks_server.status, jwks_server.keys = 200, [jwk(RSA_KEY, "k1")]
    assert (await auth.authenticate(bearer(rs256({"sub": "a"}, kid="k1")))).subject == "a"
    assert jwks_server.requests == 2
    await auth.shutdown()


async def test_an_unreachable_jwks_refuses_tokens_with_a_clear_message(jwks_server: JwksServer) -> None:
    url = jwks_server.url
    await jwks_server.server.shutdown()
    auth = await started(f"jwt: {{jwks_url: '{url}'}}\n")
    message = await refused(auth, rs256({"sub": "a"}, kid="k1"))
    assert message.startswith(f"cannot verify the token: the JWKS at {url} cannot be fetched: ")
    await auth.shutdown()


async def test_the_jwks_is_fetched_again_every_jwks_refresh(jwks_server: JwksServer) -> None:
    jwks_server.keys = [jwk(RSA_KEY, "k1")]
    auth = await started(f"jwt: {{jwks_url: '{jwks_server.url}', jwks_refresh: 50ms}}\n")
    token = rs256({"sub": "a"}, kid="k1")
    await auth.authenticate(bearer(token))
    assert jwks_server.requests == 1
    await asyncio.sleep(0.1)
    jwks_server.keys = [jwk(RSA_KEY, "k1"), jwk(OTHER_RSA_KEY, "k2")]
    await auth.authenticate(bearer(token))
    assert jwks_server.requests == 2
    assert auth.jwt is not None and auth.jwt.jwks is not None
    assert await auth.jwt.jwks.key("k2") is not None
    assert jwks_server.requests == 2
    await auth.shutdown()


async def test_a_public_key_and_a_jwks_work_side_by_side(jwks_server: JwksServer) -> None:
    jwks_server.keys = [jwk(OTHER_RSA_KEY, "k2")]
    auth = await started(f"jwt:\n  jwks_url: '{jwks_server.url}'\n{pem_block()}")
    assert (await auth.authenticate(bearer(rs256({"sub": "pem"})))).subject == "pem"
    assert (
        await auth.authenticate(bearer(rs256({"sub": "jwks"}, key=OTHER_RSA_KEY, kid="k2")))
    ).subject == "jwks"
    await auth.shutdown()


# --- tenant scopes --------------------------------------------------------------------------------


async def test_the_tenant_header_narrows_to_one_of_the_callers_tenants() -> None:
    auth = make_auth("tokens: [{token: t}]\n")
    limited = Principal("app-a", Role.VIEWER, frozenset({"beta", "acme"}), "k")
    assert auth.scope(limited, {}) == TenantScope("tenant.id", ("acme", "beta"))
    assert auth.scope(limited, {"x-scope-orgid": "beta"}) == TenantScope("tenant.id", ("beta",))
    with pytest.raises(ForbiddenError) as info:
        auth.scope(limited, {"x-scope-orgid": "gamma"})
    assert str(info.value) == "app-a may not access tenant 'gamma' (from the X-Scope-OrgID header)"
    everyone = Principal("root", Role.ADMIN, None, "k")
    assert auth.scope(everyone, {}) == TenantScope("tenant.id", None)
    assert not auth.scope(everyone, {"x-scope-orgid": " "}).restricted
    assert auth.scope(everyone, {"x-scope-orgid": "gamma"}) == TenantScope("tenant.id", ("gamma",))


async def test_the_tenant_attribute_and_header_are_configurable() -> None:
    auth = make_auth("tenant_attribute: org.id\ntenant_header: X-Tenant\ntokens: [{token: t}]\n")
    assert auth.tenant_attribute == "org.id"
    principal = Principal("p", Role.VIEWER, frozenset({"acme"}), "k")
    assert auth.scope(principal, {"x-tenant": "acme", "x-scope-orgid": "other"}) == TenantScope(
        "org.id", ("acme",)
    )
