"""Bearer credentials to principals: static tokens, HS256/RS256 JWTs, and the RS256 keys of a JWKS.

Each algorithm is pinned to its own kind of key: HS256 only ever verifies with `jwt::secret`, RS256
only with an RSA public key (`jwt::public_key` or the JWKS), and `none` never, so a token cannot pick
an algorithm that reads a key the wrong way (RFC 8725 §2.1).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import RSAAlgorithm

from collector.auth.config import JwtConfig, TokenConfig, read_value
from collector.auth.principal import AuthError, Principal, Role

JWKS_MISS_INTERVAL = 30.0
"""At most one JWKS fetch per this many seconds on tokens naming an unknown kid."""
JWKS_TIMEOUT = 10.0
_SHOWN = 64


def token_key(token: str) -> str:
    """A short, stable, non-secret id of `token`: the first 16 hex digits of its sha256."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of `authorization: Bearer <token>` (the scheme in any case); AuthError otherwise."""
    value = headers.get("authorization", "").strip()
    if not value:
        raise AuthError("no bearer token in the Authorization header")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("the Authorization header must use the Bearer scheme")  # no echo: it may be a token
    token = token.strip()
    if not token:
        raise AuthError("no bearer token in the Authorization header")
    if any(ch.isspace() or ch == "," for ch in token):
        raise AuthError("the Authorization header holds no single bearer token")
    return token


def _shown(value: object) -> str:
    """`value` as quoted in an error: repr, cut short (it comes from the caller)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class StaticTokens:
    """The configured bearer tokens, compared in constant time by their sha256 digests."""

    def __init__(self, configs: list[TokenConfig]) -> None:
        self.configs = configs
        self._entries: list[tuple[bytes, Principal]] | None = None

    def load(self) -> None:
        """Read the tokens (and token files); called once, at start or on first use."""
        if self._entries is not None:
            return
        entries = []
        for i, config in enumerate(self.configs):
            token = read_value(config.token, config.token_file)
            principal = Principal(
                subject=config.subject or f"token-{i}",
                role=Role.parse(config.role),
                tenants=None if config.tenants is None else frozenset(config.tenants),
                key=token_key(token),
            )
            entries.append((hashlib.sha256(token.encode()).digest(), principal))
        self._entries = entries

    def match(self, token: str) -> Principal | None:
        """The principal of `token`, None when it is not one of the static tokens."""
        self.load()
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, principal in self._entries or []:
            if hmac.compare_digest(known, digest) and found is None:
                found = principal
        return found


class JwksError(Exception):
    """The JWKS could not be fetched or read."""


class JwksKeys:
    """The RS256 keys of a JWKS by kid: fetched at start, every `refresh` s, and on an unknown kid."""

    def __init__(self, url: str, refresh: float, logger: logging.Logger) -> None:
        self.url = url
        self.refresh = refresh
        self.log = logger
        self.fetches = 0
        """How many fetches were attempted (for tests and debugging)."""
        self._keys: dict[str, RSAPublicKey] = {}
        self._next_refresh: float | None = None
        self._last_miss: float | None = None
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Fetch the keys now; a failure is logged and retried on use."""
        await self._refresh(force=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def key(self, kid: str) -> RSAPublicKey:
        """The key `kid`; AuthError when the JWKS has none (even after fetching it again)."""
        now = time.monotonic()
        if self._next_refresh is not None and now >= self._next_refresh:
            await self._refresh(force=False)
        found = self._keys.get(kid)
        if found is None:
            async with self._lock:  # a fetch in flight (a rotation seen by another request) ends first
                found = self._keys.get(kid)
                now = time.monotonic()
                if found is None and (self._last_miss is None or now - self._last_miss >= JWKS_MISS_INTERVAL):
                    self._last_miss = now
                    try:
                        await self._fetch()
                    except JwksError as err:
                        raise AuthError(f"cannot verify the token: {err}") from None
                    found = self._keys.get(kid)
        if found is None:
            raise AuthError(f"unknown kid {_shown(kid)}: the JWKS at {self.url} has no such key")
        return found

    async def _refresh(self, force: bool) -> None:
        """Fetch when due (or `force`); on failure log and keep the old keys, trying again in 30 s."""
        async with self._lock:
            if not force and self._next_refresh is not None and time.monotonic() < self._next_refresh:
                return  # another request refreshed while this one waited
            try:
                await self._fetch()
            except JwksError as err:
                self._next_refresh = time.monotonic() + min(self.refresh, JWKS_MISS_INTERVAL)
                self.log.warning("%s; trying again later", err)

    async def _fetch(self) -> None:
        self.fetches += 1
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=JWKS_TIMEOUT, follow_redirects=True)
        try:
            response = await self._client.get(self.url, headers={"accept": "application/json"})
        except httpx.HTTPError as err:
            raise JwksError(
                f"the JWKS at {self.url} cannot be fetched: {err or type(err).__name__}"
            ) from None
        if response.status_code != 200:
            raise JwksError(f"the JWKS at {self.url} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise JwksError(f"the JWKS at {self.url} is not JSON") from None
        items = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise JwksError(f"the JWKS at {self.url} has no `keys` list")
        self._keys = self._rsa_keys(items)
        self._next_refresh = time.monotonic() + self.refresh
        self.log.debug("fetched %d RS256 keys from %s", len(self._keys), self.url)

    def _rsa_keys(self, items: list[Any]) -> dict[str, RSAPublicKey]:
        keys: dict[str, RSAPublicKey] = {}
        for item in items:
            if not isinstance(item, dict) or item.get("kty") != "RSA":
                continue
            kid = item.get("kid")
            if not isinstance(kid, str) or item.get("use", "sig") != "sig":
                continue
            if item.get("alg", "RS256") != "RS256":
                continue
            try:
                key = RSAAlgorithm.from_jwk(item)
            except (jwt.PyJWTError, ValueError, KeyError, TypeError) as err:
                self.log.warning("skipping key %r of the JWKS at %s: %s", kid, self.url, err)
                continue
            if isinstance(key, RSAPrivateKey):
                key = key.public_key()
            if isinstance(key, RSAPublicKey):
                keys[kid] = key
        return keys


class JwtVerifier:
    """Checks a JWT's algorithm, signature, exp/nbf, iss and aud, and reads its subject, tenants and role."""

    def __init__(self, config: JwtConfig, logger: logging.Logger) -> None:
        self.config = config
        self.log = logger
        self._secret: bytes | None = None
        self._public_key: RSAPublicKey | None = None
        self._loaded = False
        self.jwks = (
            JwksKeys(config.jwks_url, config.jwks_refresh.total_seconds(), logger)
            if config.jwks_url
            else None
        )

    def load(self) -> None:
        """Read the secret and the public key (or their files); called once, at start or on first use."""
        if self._loaded:
            return
        config = self.config
        if config.secret or config.secret_file:
            self._secret = read_value(config.secret, config.secret_file).encode()
        if config.public_key or config.public_key_file:
            key = load_pem_public_key(read_value(config.public_key, config.public_key_file).encode())
            if not isinstance(key, RSAPublicKey):
                raise ValueError("jwt::public_key is not an RSA public key")
            self._public_key = key
        self._loaded = True

    async def start(self) -> None:
        self.load()
        if self.jwks is not None:
            await self.jwks.start()

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()

    async def verify(self, token: str) -> Principal:
        """The principal a valid JWT stands for; AuthError saying what is wrong otherwise."""
        self.load()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("the bearer token is neither a configured token nor a valid JWT") from None
        alg = header.get("alg")
        key: bytes | RSAPublicKey
        if alg == "HS256":
            if self._secret is None:
                raise AuthError("HS256 tokens are not accepted here (no jwt::secret is configured)")
            key = self._secret
        elif alg == "RS256":
            key = await self._rsa_key(header.get("kid"))
        else:
            raise AuthError(f"the token's algorithm {_shown(alg)} is not accepted (HS256 or RS256 only)")
        claims = self._decode(token, key, alg)
        return principal_of_claims(claims, self.config, token_key(token))

    async def _rsa_key(self, kid: object) -> RSAPublicKey:
        if self.jwks is not None and isinstance(kid, str):
            return await self.jwks.key(kid)
        if self._public_key is not None:
            return self._public_key
        if self.jwks is not None:
            raise AuthError("the token names no kid to pick its key from the JWKS")
        raise AuthError("RS256 tokens are not accepted here (no jwt::public_key or jwt::jwks_url)")

    def _decode(self, token: str, key: bytes | RSAPublicKey, alg: str) -> dict[str, Any]:
        config = self.config
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=config.audience or None,
                issuer=config.issuer or None,
                leeway=config.leeway,
                options={"verify_aud": bool(config.audience), "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token is not valid yet (nbf or iat is in the future)") from None
        except jwt.InvalidSignatureError:
            raise AuthError("the token's signature is invalid") from None
        except jwt.InvalidIssuerError:
            raise AuthError(f"the token's issuer is not {config.issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"the token's audience does not include {config.audience!r}") from None
        except jwt.MissingRequiredClaimError as err:
            raise AuthError(f"the token has no {err.claim!r} claim") from None
        except jwt.InvalidKeyError:
            raise AuthError("the token's key is too weak or unusable") from None
        except jwt.DecodeError:
            raise AuthError("the bearer token is not a valid JWT") from None
        except jwt.PyJWTError:
            raise AuthError("the token is invalid") from None


def principal_of_claims(claims: Mapping[str, Any], config: JwtConfig, key: str) -> Principal:
    """The caller a verified JWT's claims describe: `sub`, the tenant claim and the roles claim."""
    tenants = _strings(claims.get(config.tenant_claim), config.tenant_claim)
    if tenants is not None and not all(tenant.strip() for tenant in tenants):
        # an empty tenant would read the rows that carry no tenant at all
        raise AuthError(f"the token's {config.tenant_claim!r} claim holds an empty tenant")
    names = _strings(claims.get(config.roles_claim), config.roles_claim)
    roles = []
    for name in names or ():
        try:
            roles.append(Role.parse(name))
        except ValueError:
            continue  # identity providers carry roles of other applications too
    subject = claims.get("sub")
    return Principal(
        subject=subject if isinstance(subject, str) and subject else f"jwt-{key}",
        role=max(roles, default=Role.VIEWER),
        tenants=None if tenants is None else frozenset(tenants),
        key=key,
    )


def _strings(value: object, claim: str) -> list[str] | None:
    """A claim that is a string or a list of strings, as a list; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise AuthError(f"the token's {claim!r} claim must be a string or a list of strings")


__all__ = [
    "JWKS_MISS_INTERVAL",
    "JwksError",
    "JwksKeys",
    "JwtVerifier",
    "StaticTokens",
    "bearer_token",
    "principal_of_claims",
    "token_key",
]
