"""Factory of the `auth` extension (imports no JWT, crypto or Redis library until `create`)."""

from __future__ import annotations

from collector.auth.config import AuthConfig
from collector.component import Component, ExtensionFactory, Settings, Stability


def create_extension(settings: Settings, config: AuthConfig) -> Component:
    from collector.auth.extension import AuthExtension

    return AuthExtension(settings, config)


FACTORY = ExtensionFactory(
    type="auth",
    config_type=AuthConfig,
    create=create_extension,
    stability=Stability.ALPHA,
)

__all__ = ["FACTORY", "AuthConfig", "create_extension"]
