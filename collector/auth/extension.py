"""The `auth` extension: proves who calls (static tokens, JWTs), which tenants they see, and how often."""

from __future__ import annotations

from collections.abc import Mapping

from collector.auth.config import AuthConfig
from collector.auth.principal import AuthError, ForbiddenError, Principal, TenantScope
from collector.auth.ratelimit import RateLimiter
from collector.auth.tokens import JwtVerifier, StaticTokens, bearer_token
from collector.component import Host, Settings


class AuthExtension:
    """An `Authenticator` (see `collector.auth.principal`) that surfaces find through `AuthSetting`."""

    def __init__(self, settings: Settings, config: AuthConfig) -> None:
        self.config = config
        self.log = settings.logger
        self.tokens = StaticTokens(config.tokens)
        self.jwt = JwtVerifier(config.jwt, settings.logger) if config.jwt is not None else None
        self.limiter = RateLimiter(config.rate_limit, settings.logger) if config.rate_limit else None
        self._tenant_header = config.tenant_header.lower()

    @property
    def tenant_attribute(self) -> str:
        return self.config.tenant_attribute

    @property
    def tenant_header(self) -> str:
        """The header that narrows a request to one tenant, as configured (`X-Scope-OrgID`)."""
        return self.config.tenant_header

    async def start(self, host: Host) -> None:
        """Read tokens and keys, and fetch the JWKS (a failure there is logged and retried on use)."""
        self.tokens.load()
        if self.jwt is not None:
            await self.jwt.start()

    async def shutdown(self) -> None:
        if self.jwt is not None:
            await self.jwt.close()
        if self.limiter is not None:
            await self.limiter.close()

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        token = bearer_token(headers)
        found = self.tokens.match(token)
        if found is not None:
            return found
        if self.jwt is None:
            raise AuthError("the bearer token is not one of the configured tokens")
        return await self.jwt.verify(token)

    def scope(self, principal: Principal, headers: Mapping[str, str]) -> TenantScope:
        attribute = self.config.tenant_attribute
        asked = headers.get(self._tenant_header, "").strip()
        if asked:
            if principal.tenants is not None and asked not in principal.tenants:
                raise ForbiddenError(
                    f"{principal.subject} may not access tenant {asked!r} "
                    f"(from the {self.config.tenant_header} header)"
                )
            return TenantScope(attribute, (asked,))
        tenants = None if principal.tenants is None else tuple(sorted(principal.tenants))
        return TenantScope(attribute, tenants)

    async def check_rate(self, principal: Principal, surface: str) -> None:
        if self.limiter is not None:
            await self.limiter.check(principal, surface)


__all__ = ["AuthExtension"]
