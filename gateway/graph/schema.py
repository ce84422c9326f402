"""The schema: every service's part composed into one graph, plus the gateway's own fields.

Each module of this package owns the fields it defines (a field belongs to the module of its resolver,
or of its type when it has none); a service's federation subgraph is the part its module owns
(`gateway.subgraph`), and the gateway serves the whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info

from collector.auth.principal import Role
from gateway.graph.context import context_of
from gateway.graph.logs import LogsQuery, LogsSubscription
from gateway.graph.metrics import MetricsQuery
from gateway.graph.permissions import Admin, Viewer
from gateway.graph.traces import Span, Trace, TracesQuery, TracesSubscription

DOMAINS = ("traces", "logs", "metrics")

log = logging.getLogger("airis.gateway")


@strawberry.type(description="The caller, as the gateway authenticated it.")
class Caller:
    subject: str
    role: str
    tenants: list[str] | None


@strawberry.type(description="The health of the gateway's link to one service.")
class Upstream:
    service: str
    circuit: str
    in_flight: int


@strawberry.type
class GatewayQuery:
    @strawberry.field(permission_classes=[Viewer], description="Who the gateway thinks you are.")
    def me(self, info: Info[Any, Any]) -> Caller:
        principal = context_of(info).principal
        tenants = None if principal.tenants is None else sorted(principal.tenants)
        return Caller(subject=principal.subject, role=Role(principal.role).name.lower(), tenants=tenants)

    @strawberry.field(permission_classes=[Admin], description="Circuit breaker state of each service link.")
    def upstreams(self, info: Info[Any, Any]) -> list[Upstream] | None:
        return [
            Upstream(
                service=name, circuit=client.resilience.state, in_flight=client.resilience.bulkhead.running
            )
            for name, client in sorted(context_of(info).clients.items())
        ]


Query = merge_types("Query", (TracesQuery, LogsQuery, MetricsQuery, GatewayQuery))
Subscription = merge_types("Subscription", (TracesSubscription, LogsSubscription))


class GatewaySchema(strawberry.federation.Schema):
    """strawberry's federation schema without its log of every error with a stack trace: the errors a
    caller gets (bad input, refusals, an unavailable service) are answers, logged at debug; unexpected
    ones are logged once, with their stack, where they get a code (`gateway.app.coded`)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            log.debug("GraphQL error at %s: %s", ".".join(map(str, error.path or [])) or "-", error.message)


def build_schema(
    extensions: Iterable[type[SchemaExtension] | Callable[[], SchemaExtension]] | None = None,
) -> strawberry.federation.Schema:
    """The whole graph (federation-ready: entity keys, `_service`, `_entities`)."""
    return GatewaySchema(
        query=Query, subscription=Subscription, types=[Trace, Span], extensions=extensions or []
    )


def owner(field_module: str) -> str:
    """The domain owning a field defined in `field_module` (`traces`, `logs`, `metrics`, or a shared part)."""
    return field_module.rsplit(".", 1)[-1]


def field_owners(schema: strawberry.federation.Schema) -> dict[tuple[str, str], str]:
    """(GraphQL type name, field name) → owning domain, for every object type's fields."""
    owners: dict[tuple[str, str], str] = {}
    for name, entry in schema.schema_converter.type_map.items():
        definition = entry.definition
        fields = getattr(definition, "fields", None)
        origin = getattr(definition, "origin", None)
        if fields is None or origin is None or getattr(definition, "is_input", False):
            continue
        for field in fields:
            resolver = field.base_resolver
            module = resolver.wrapped_func.__module__ if resolver is not None else origin.__module__
            owners[(name, schema.config.name_converter.get_graphql_name(field))] = owner(module)
    return owners


__all__ = ["DOMAINS", "GatewaySchema", "Query", "Subscription", "build_schema", "field_owners"]
