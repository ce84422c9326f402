"""The schema: every service's part composed into one graph, plus the gateway's own fields.

Each module of this package owns the fields it defines (a field belongs to the module of its resolver,
or of its type when it has none); a service's federation subgraph is the part its module owns
(`gateway.subgraph`), and the gateway serves the whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.inspect import get_func_args

from collector.auth.principal import Role
from gateway.graph.context import context_of
from gateway.graph.logs import LogsQuery, LogsSubscription
from gateway.graph.metrics import MetricsQuery
from gateway.graph.permissions import Admin, Viewer
from gateway.graph.traces import Span, Trace, TracesQuery, TracesSubscription, _load_traces

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
    """The whole graph, executed by the gateway (`domain` None) or as one service's subgraph.

    `_entities` loads the entities `domain` owns (every entity, for the gateway) from their service,
    and builds the others (which a subgraph only extends) from their representations, without calling
    their owner. Caller errors (bad input, refusals, an unavailable service) are answers, logged at
    debug; unexpected ones are logged once, with their stack, where they get a code
    (`gateway.app.coded`)."""

    def __init__(self, domain: str | None = None, **kwargs: Any) -> None:
        self.domain = domain
        super().__init__(**kwargs)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            log.debug("GraphQL error at %s: %s", ".".join(map(str, error.path or [])) or "-", error.message)

    def entities_resolver(
        self, info: Info[Any, Any], representations: list[FederationAny]
    ) -> list[FederationAny]:
        results: list[Any] = []
        for representation in representations:
            try:
                results.append(self._entity(info, dict(representation)))  # type: ignore[call-overload]
            except Exception as err:  # one representation's failure is that entity's error
                results.append(err)
        return results

    def _entity(self, info: Info[Any, Any], representation: dict[str, Any]) -> Any:
        type_name = representation.pop("__typename", None)
        definition = self.get_type_by_name(type_name) if isinstance(type_name, str) else None
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_object_type:
            raise GraphQLError(f"{type_name!r} is not an entity of this subgraph")
        values = self._values(type_name, representation)
        origin = definition.origin
        resolve = getattr(origin, "resolve_reference", None)
        if resolve is not None and (self.domain is None or owner(origin.__module__) == self.domain):
            accepted = get_func_args(resolve)
            kwargs = {name: value for name, value in values.items() if name in accepted}
            if "info" in accepted:
                kwargs["info"] = info
            return resolve(**kwargs)
        entity = _built(origin, values)
        if isinstance(entity, Trace):
            spans = entity.__dict__.pop("spans", None)
            if spans is not None:  # what `Trace.logs` requires: its spans' times, as load_trace answers
                context = context_of(info)
                loader: DataLoader[str, list[Span] | None] = context.loader(
                    "traces", lambda ids: _load_traces(context, ids)
                )
                loader.prime(str(entity.trace_id), spans)
        return entity

    def _values(self, type_name: str, representation: Mapping[str, Any]) -> dict[str, Any]:
        """`representation`'s fields by Python name, with values as resolvers see them."""
        definition = self.get_type_by_name(type_name)
        graphql_type = self._schema.get_type(type_name)
        assert isinstance(definition, StrawberryObjectDefinition)
        assert isinstance(graphql_type, GraphQLObjectType)
        names = {self.config.name_converter.get_graphql_name(f): f.python_name for f in definition.fields}
        values: dict[str, Any] = {}
        for name, value in representation.items():
            if name == "__typename":
                continue
            if name not in names or name not in graphql_type.fields:
                raise GraphQLError(f"{type_name} has no field {name!r}")
            values[names[name]] = self._value(graphql_type.fields[name].type, value)
        return values

    def _value(self, type_: GraphQLOutputType, value: Any) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self._value(type_.of_type, value)
        if value is None:
            return None
        if isinstance(type_, GraphQLList):
            return [self._value(type_.of_type, item) for item in value]
        if is_leaf_type(type_):
            return type_.parse_value(value)
        assert isinstance(type_, GraphQLObjectType)
        definition = self.get_type_by_name(type_.name)
        assert isinstance(definition, StrawberryObjectDefinition)
        return _built(definition.origin, self._values(type_.name, value))


def _built(origin: type, values: Mapping[str, Any]) -> Any:
    """An instance of strawberry type `origin` holding only `values` (what a representation tells)."""
    instance: Any = object.__new__(origin)
    instance.__dict__.update(values)
    return instance


def build_schema(
    extensions: Iterable[type[SchemaExtension] | Callable[[], SchemaExtension]] | None = None,
) -> GatewaySchema:
    """The whole graph, as the gateway serves it (federation-ready: entity keys, `_service`, `_entities`)."""
    return GatewaySchema(
        None, query=Query, subscription=Subscription, types=[Trace, Span], extensions=extensions or []
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
