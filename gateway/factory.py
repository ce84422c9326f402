"""Factory of the `graphql_gateway` extension (cheap to import: no strawberry until created)."""

from __future__ import annotations

from collections.abc import Iterable

from collector.component import Component, ComponentId, ExtensionFactory, Settings, Stability
from gateway.config import GatewayConfig


def create_extension(settings: Settings, config: GatewayConfig) -> Component:
    from gateway.extension import GraphQLGateway

    return GraphQLGateway(settings, config)


def dependencies(config: GatewayConfig) -> Iterable[ComponentId]:
    return config.dependencies()


FACTORY = ExtensionFactory(
    type="graphql_gateway",
    config_type=GatewayConfig,
    create=create_extension,
    stability=Stability.ALPHA,
    dependencies=dependencies,
)

__all__ = ["FACTORY", "GatewayConfig"]
