"""Who is calling and which tenants' data they may see: the contracts every surface shares.

The `auth` extension (`collector.auth.extension`) turns request headers into a `Principal`; a surface
(query service, gateway, OTLP receiver) checks its role and narrows it to a `TenantScope`, which the
query services apply to every table they read (`backend.service.Store.table`) through `current_scope`.

AirisError
└── AuthError            HTTP 401 / gRPC UNAUTHENTICATED: no, malformed, expired or unknown credentials
    ├── ForbiddenError   HTTP 403 / gRPC PERMISSION_DENIED: a valid caller without the role or tenant
    └── RateLimitedError HTTP 429 / gRPC RESOURCE_EXHAUSTED: the caller's token bucket is empty
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from collector.errors import AirisError


class Role(IntEnum):
    """Roles are ordered: each one may do everything the ones below it may."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        """`viewer`, `editor` or `admin` (any case); ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"{text!r} is not a role (viewer, editor, admin)") from None


class AuthError(AirisError):
    """The caller is not authenticated (HTTP 401)."""

    code = "UNAUTHENTICATED"
    status = 401


class ForbiddenError(AuthError):
    """The caller is authenticated but may not do this (HTTP 403)."""

    code = "FORBIDDEN"
    status = 403


class RateLimitedError(AuthError):
    """The caller sent more requests than its rate limit allows (HTTP 429); retry after `retry_after` s."""

    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    subject: str
    """Who: the JWT's `sub`, or the static token's `subject`."""
    role: Role
    """The highest role the credentials grant."""
    tenants: frozenset[str] | None
    """The tenants whose data the caller may see and write; None = every tenant (no tenant claim)."""
    key: str
    """A stable, non-secret id of the credentials (a hash), the key of the caller's rate limit."""

    def allows(self, role: Role) -> bool:
        """Whether the caller has `role` or a higher one."""
        return self.role >= role


ANONYMOUS = Principal(subject="anonymous", role=Role.ADMIN, tenants=None, key="anonymous")
"""The caller on a surface whose authentication is explicitly off (`auth::authenticator: none`)."""


@dataclass(frozen=True)
class TenantScope:
    """The tenants one request may read: rows whose resource attribute `attribute` is in `tenants`."""

    attribute: str
    """The resource attribute holding the tenant (the `auth` extension's `tenant_attribute`)."""
    tenants: tuple[str, ...] | None
    """Sorted tenant ids; None = unrestricted."""

    @property
    def restricted(self) -> bool:
        return self.tenants is not None


current_scope: ContextVar[TenantScope | None] = ContextVar("airis_tenant_scope", default=None)
"""The tenant scope of the request being served (None = unrestricted); set by `AuthMiddleware`."""


class Authenticator(Protocol):
    """What a surface needs from the `auth` extension."""

    @property
    def tenant_attribute(self) -> str:
        """The resource attribute that holds the tenant."""
        ...

    @property
    def tenant_header(self) -> str:
        """The request header that narrows a request to one tenant (`X-Scope-OrgID`)."""
        ...

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a request with these headers (lower-case names); AuthError if none is proven."""
        ...

    def scope(self, principal: Principal, headers: Mapping[str, str]) -> TenantScope:
        """The tenants this request may read: the principal's, narrowed by the tenant header if sent.

        ForbiddenError when the header names a tenant the principal may not see.
        """
        ...

    async def check_rate(self, principal: Principal, surface: str) -> None:
        """RateLimitedError when `principal` has used up its requests on `surface` for now."""
        ...


__all__ = [
    "ANONYMOUS",
    "AuthError",
    "Authenticator",
    "ForbiddenError",
    "Principal",
    "RateLimitedError",
    "Role",
    "TenantScope",
    "current_scope",
]
