"""Who may write to the receiver: a protocol's `auth` checks each request before its body is decoded.

A writer needs the editor role; when its credentials (narrowed by the tenant header) name exactly
one tenant, that tenant is stamped on every resource it sends, whatever the client put there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.auth.principal import Authenticator, ForbiddenError, Principal, Role
from collector.signal import Signal
from receivers.otlp.stamp import stamp_otlp_bytes, stamp_otlp_message

__all__ = ["SUBJECT_METADATA_KEY", "SURFACE", "TENANT_METADATA_KEY", "Writer", "admit"]

SURFACE = "otlp"
"""The surface whose rate limit OTLP writes use (`Authenticator.check_rate`)."""
SUBJECT_METADATA_KEY = "auth.subject"
"""The `Batch.metadata` key holding the writer's subject (with `include_metadata`)."""
TENANT_METADATA_KEY = "auth.tenant"
"""The `Batch.metadata` key holding the tenant stamped on the data (with `include_metadata`)."""


@dataclass(frozen=True)
class Writer:
    """An admitted writer and the tenant its data is stamped with (None: the data is left as sent)."""

    principal: Principal
    attribute: str
    """The resource attribute holding the tenant."""
    tenant: str | None

    def stamp_bytes(self, signal: Signal, data: bytes) -> bytes:
        """A serialized request with the tenant on every resource (`data` itself when unrestricted)."""
        if self.tenant is None:
            return data
        return stamp_otlp_bytes(signal, data, self.attribute, self.tenant)

    def stamp_message(self, signal: Signal, request: Any) -> None:
        """Put the tenant on every resource of a parsed request, in place (nothing when unrestricted)."""
        if self.tenant is not None:
            stamp_otlp_message(signal, request, self.attribute, self.tenant)

    def annotate(self, metadata: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """`metadata` with the writer's subject and tenant, replacing any the client sent as headers."""
        metadata[SUBJECT_METADATA_KEY] = (self.principal.subject,)
        if self.tenant is None:
            metadata.pop(TENANT_METADATA_KEY, None)
        else:
            metadata[TENANT_METADATA_KEY] = (self.tenant,)
        return metadata


async def admit(authenticator: Authenticator, headers: Mapping[str, str]) -> Writer:
    """The writer of a request with these headers (lower-case names); AuthError (401/403/429) if refused."""
    principal = await authenticator.authenticate(headers)
    if not principal.allows(Role.EDITOR):
        raise ForbiddenError(
            f"{principal.subject!r} may not write telemetry: it has the "
            f"{principal.role.name.lower()} role, writing needs editor"
        )
    scope = authenticator.scope(principal, headers)
    tenant = None
    if scope.tenants is not None:
        if len(scope.tenants) != 1:
            raise ForbiddenError(_tenant_problem(authenticator, principal, scope.tenants))
        (tenant,) = scope.tenants
    await authenticator.check_rate(principal, SURFACE)
    return Writer(principal, scope.attribute, tenant)


def _tenant_problem(authenticator: Authenticator, principal: Principal, tenants: tuple[str, ...]) -> str:
    if not tenants:
        return f"{principal.subject!r} may not write telemetry: its credentials grant no tenant"
    ask = f"the {authenticator.tenant_header} header"
    return (
        f"{principal.subject!r} may write as several tenants ({', '.join(tenants)}): "
        f"name the one this data belongs to with {ask}"
    )
