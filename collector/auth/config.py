"""Config of the `auth` extension: JWT keys, static bearer tokens, tenants and the Redis rate limit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from collector.auth.principal import Role
from collector.configstruct import format_duration
from collector.errors import ConfigError, Problem

MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key must be at least as long as the hash (256 bits)."""
MIN_RSA_BITS = 2048
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def read_value(value: str, path: str) -> str:
    """`value` itself, or the stripped text of the file at `path` when `value` is empty."""
    return value if value else Path(path).read_text(encoding="utf-8").strip()


def without_credentials(url: str) -> str:
    """`url` without its `user:password@` part, for messages and logs."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _file_problem(path: str, key: str) -> Problem | None:
    """A problem when the file under `key` cannot be read or is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        return Problem(key, f"cannot read {path!r}: {err.strerror or err}")
    except UnicodeDecodeError:
        return Problem(key, f"{path!r} is not UTF-8 text")
    return None if text.strip() else Problem(key, f"{path!r} is empty")


def _value_or_file(obj: object, name: str) -> tuple[list[Problem], str | None]:
    """Problems of `name` / `name_file` (both set, unreadable file) and the value when it is known."""
    value, path = getattr(obj, name), getattr(obj, f"{name}_file")
    if value and path:
        return [Problem(f"{name}_file", f"at most one of {name} and {name}_file may be set")], None
    if path:
        found = _file_problem(path, f"{name}_file")
        return ([found], None) if found else ([], read_value("", path))
    return [], value or None


@dataclass
class JwtConfig:
    """Bearer JWTs: HS256 with a shared secret, RS256 with a public key and/or the keys of a JWKS."""

    # The HS256 key (at least 32 bytes), or a file holding it.
    secret: str = ""
    secret_file: str = ""
    # An RS256 public key in PEM (-----BEGIN PUBLIC KEY-----), or a file holding it.
    public_key: str = ""
    public_key_file: str = ""
    # An http(s) URL of a JWKS: RS256 keys picked by the token's `kid`.
    jwks_url: str = ""
    # How often the JWKS is fetched again (it is also fetched on an unknown kid, at most every 30 s).
    jwks_refresh: timedelta = timedelta(minutes=5)
    # The `iss` and `aud` the tokens must carry; unchecked when empty.
    issuer: str = ""
    audience: str = ""
    # The claim listing the caller's tenants (a string or a list); without it, every tenant.
    tenant_claim: str = "tenant"
    # The claim listing the caller's roles (viewer, editor, admin; the highest counts); without it, viewer.
    roles_claim: str = "roles"
    # Clock skew allowed when checking exp and nbf.
    leeway: timedelta = timedelta(seconds=30)

    def problems(self) -> list[Problem]:
        """Every mistake, with paths relative to this section."""
        problems, secret = _value_or_file(self, "secret")
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            key = "secret_file" if self.secret_file else "secret"
            problems.append(
                Problem(key, f"must be at least {MIN_SECRET_BYTES} bytes (HS256 needs a 256-bit key)")
            )
        found, pem = _value_or_file(self, "public_key")
        problems += found
        if pem is not None and (message := rsa_public_key_problem(pem)):
            problems.append(Problem("public_key_file" if self.public_key_file else "public_key", message))
        if self.jwks_url:
            parts = urlsplit(self.jwks_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(Problem("jwks_url", f"{self.jwks_url!r} must be an http(s):// URL"))
        if not (self.secret or self.secret_file or self.public_key or self.public_key_file or self.jwks_url):
            problems.append(
                Problem("", "set secret (HS256), public_key (RS256) or jwks_url, or their *_file forms")
            )
        if self.jwks_refresh <= timedelta(0):
            problems.append(Problem("jwks_refresh", f"{format_duration(self.jwks_refresh)} must be positive"))
        if self.leeway < timedelta(0):
            problems.append(Problem("leeway", f"{format_duration(self.leeway)} must not be negative"))
        for name in ("tenant_claim", "roles_claim"):
            if not getattr(self, name).strip():
                problems.append(Problem(name, "must name a claim"))
        return problems


def rsa_public_key_problem(pem: str) -> str | None:
    """What is wrong with `pem` as an RS256 verification key, None when it is fine."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return "is not a public key in PEM form (-----BEGIN PUBLIC KEY-----)"
    if not isinstance(key, RSAPublicKey):
        return "is not an RSA public key (RS256 needs one)"
    if key.key_size < MIN_RSA_BITS:
        return f"has {key.key_size} bits; RS256 needs at least {MIN_RSA_BITS}"
    return None


@dataclass
class TokenConfig:
    """A static bearer token (e.g. for an OTLP sender) and who it stands for."""

    # The token, or a file holding it (read at start).
    token: str = ""
    token_file: str = ""
    # Who the token is (a name for logs and audits); `token-<index>` when empty.
    subject: str = ""
    # The tenants it may write and read; absent = every tenant.
    tenants: list[str] | None = None
    # viewer, editor or admin.
    role: str = "viewer"

    def problems(self) -> tuple[list[Problem], str | None]:
        """Every mistake (paths relative to this item) and the token when it is known."""
        problems, token = _value_or_file(self, "token")
        if not self.token and not self.token_file:
            problems.append(Problem("token", "set token or token_file"))
        elif token is not None and any(ch.isspace() for ch in token):
            problems.append(Problem("token_file" if self.token_file else "token", "must not hold spaces"))
        try:
            Role.parse(self.role)
        except ValueError as err:
            problems.append(Problem("role", str(err)))
        for i, tenant in enumerate(self.tenants or []):
            if not tenant.strip():
                problems.append(Problem(f"tenants::{i}", "a tenant must not be empty"))
        return problems, token


@dataclass
class RateLimitConfig:
    """A token bucket per caller and surface, kept in Redis so every airis process shares it."""

    # redis://host:port/db, rediss:// (TLS) or unix:///path.
    endpoint: str = "redis://127.0.0.1:6379/0"
    # The bucket's refill rate and size.
    requests_per_second: float = 20.0
    burst: int = 40
    # What to do when Redis cannot be reached: let requests through, or refuse them (429).
    on_error: Literal["allow", "deny"] = "allow"
    # Prefix of every bucket's key.
    key_prefix: str = "airis:ratelimit:"
    # How long connecting to Redis and each call may take.
    timeout: timedelta = timedelta(seconds=1)

    def problems(self) -> list[Problem]:
        """Every mistake, with paths relative to this section."""
        problems: list[Problem] = []
        parts = urlsplit(self.endpoint)
        if parts.scheme not in _REDIS_SCHEMES or not (parts.hostname or parts.path):
            problems.append(
                Problem(
                    "endpoint",
                    f"{without_credentials(self.endpoint)!r} must be redis://host:port/db, rediss:// or unix://",
                )
            )
        else:
            try:
                parts.port  # noqa: B018 (raises on a bad port)
            except ValueError:
                problems.append(
                    Problem("endpoint", f"{without_credentials(self.endpoint)!r} has an invalid port")
                )
        if self.requests_per_second <= 0:
            problems.append(Problem("requests_per_second", f"{self.requests_per_second:g} must be positive"))
        if self.burst < 1:
            problems.append(Problem("burst", f"{self.burst} must be at least 1"))
        if self.timeout <= timedelta(0):
            problems.append(Problem("timeout", f"{format_duration(self.timeout)} must be positive"))
        return problems


@dataclass
class AuthConfig:
    """Who may call the surfaces that name this extension, which tenants they see, and how often."""

    # The resource attribute holding the tenant of every row.
    tenant_attribute: str = "tenant.id"
    # The request header narrowing a request to one of the caller's tenants.
    tenant_header: str = "X-Scope-OrgID"
    jwt: JwtConfig | None = None
    tokens: list[TokenConfig] = field(default_factory=list)
    rate_limit: RateLimitConfig | None = None

    def validate(self) -> None:
        problems: list[Problem] = []
        if not self.tenant_attribute.strip():
            problems.append(Problem("tenant_attribute", "must name a resource attribute"))
        if not _HEADER_NAME.match(self.tenant_header):
            problems.append(Problem("tenant_header", f"{self.tenant_header!r} is not a header name"))
        if self.jwt is None and not self.tokens:
            problems.append(Problem("", "configure jwt, tokens or both"))
        if self.jwt is not None:
            problems += _under("jwt", self.jwt.problems())
        seen: dict[str, int] = {}
        for i, item in enumerate(self.tokens):
            found, token = item.problems()
            problems += _under(f"tokens::{i}", found)
            if token is not None:
                if token in seen:
                    key = "token_file" if item.token_file else "token"
                    problems.append(
                        Problem(f"tokens::{i}::{key}", f"the same token as tokens::{seen[token]}")
                    )
                else:
                    seen[token] = i
        if self.rate_limit is not None:
            problems += _under("rate_limit", self.rate_limit.problems())
        if problems:
            raise ConfigError(problems)


def _under(prefix: str, problems: list[Problem]) -> list[Problem]:
    return [Problem(f"{prefix}::{p.path}" if p.path else prefix, p.message) for p in problems]


__all__ = [
    "MIN_RSA_BITS",
    "MIN_SECRET_BYTES",
    "AuthConfig",
    "JwtConfig",
    "RateLimitConfig",
    "TokenConfig",
    "read_value",
    "rsa_public_key_problem",
    "without_credentials",
]
