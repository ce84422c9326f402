"""A service's Apollo Federation v2 subgraph: the part of the graph its module owns, at `/graphql`.

The SDL a service announces (`_service { sdl }`) keeps the root fields and entity fields its domain
owns (`gateway.graph.schema.field_owners`), the key fields of every entity it mentions, the fields of
other services' entities its own fields `@requires` (`REQUIRES`), and the types they reach. The
service executes those queries on the whole schema, answering from its own API: `_entities` loads the
entities it owns (`resolve_reference`) and builds those it only extends from their representations,
so it never calls another service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import strawberry
from graphql import (
    ConstArgumentNode,
    ConstDirectiveNode,
    ConstListValueNode,
    DefinitionNode,
    DocumentNode,
    FieldDefinitionNode,
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    ListValueNode,
    NamedTypeNode,
    NameNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    SchemaDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeNode,
    is_leaf_type,
    parse,
    print_ast,
)
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp
from strawberry.dataloader import DataLoader
from strawberry.federation.schema import FederationAny
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.inspect import get_func_args

from gateway.app import GraphQLApp, limits
from gateway.graph.context import context_of
from gateway.graph.schema import (
    DOMAINS,
    GatewaySchema,
    Query,
    Subscription,
    build_schema,
    field_owners,
    owner,
)
from gateway.graph.traces import Span, Trace, _load_traces
from gateway.resilience import Resilience, ResilienceConfig
from gateway.upstream import ServiceClient

ROOTS = ("Query",)
FEDERATION_TYPES = {"_Any", "_Entity", "_Service"}
"""Added back by every federation library from the `@link`; not announced."""
REQUIRES: dict[tuple[str, str], str] = {
    ("Trace", "logs"): "spans { startTimeUnixNano durationMs }",
    ("Span", "logs"): "startTimeUnixNano durationMs",
}
"""What a field of another service's entity needs of it (its resolver reads these): the gateway fetches
them from the owner and sends them with the key, so the extending service never calls the owner."""


def _named(node: TypeNode) -> str:
    while not isinstance(node, NamedTypeNode):
        node = node.type  # type: ignore[attr-defined]
    return node.name.value


def _keys(node: ObjectTypeDefinitionNode) -> set[str]:
    keys: set[str] = set()
    for directive in node.directives or ():
        if directive.name.value == "key":
            for argument in directive.arguments or ():
                if argument.name.value == "fields" and isinstance(argument.value, StringValueNode):
                    keys.update(argument.value.value.split())
    return keys


def _directive(name: str, fields: str | None = None) -> ConstDirectiveNode:
    arguments = (
        ()
        if fields is None
        else (ConstArgumentNode(name=NameNode(value="fields"), value=StringValueNode(value=fields)),)
    )
    return ConstDirectiveNode(name=NameNode(value=name), arguments=arguments)


def _field_set(types: Mapping[str, TypeDefinitionNode], type_name: str, fields: str) -> set[tuple[str, str]]:
    """The (type, field) pairs a `@requires` field set of `type_name` selects, nested ones included."""
    operation = parse(f"{{ {fields} }}").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    found: set[tuple[str, str]] = set()

    def walk(name: str, selections: SelectionSetNode) -> None:
        node = types[name]
        assert isinstance(node, ObjectTypeDefinitionNode)
        by_name = {field.name.value: field for field in node.fields or ()}
        for selection in selections.selections:
            assert isinstance(selection, FieldNode)
            found.add((name, selection.name.value))
            if selection.selection_set is not None:
                walk(_named(by_name[selection.name.value].type), selection.selection_set)

    walk(type_name, operation.selection_set)
    return found


def _with_imports(link: ConstDirectiveNode, names: Iterable[str]) -> ConstDirectiveNode:
    """The federation `@link` with `names` (`@requires`, ...) added to its imports."""
    arguments = []
    for argument in link.arguments or ():
        value = argument.value
        if argument.name.value == "import" and isinstance(value, ListValueNode):
            present = {item.value for item in value.values if isinstance(item, StringValueNode)}
            added = tuple(StringValueNode(value=name) for name in names if name not in present)
            value = ConstListValueNode(values=(*value.values, *added))
        arguments.append(ConstArgumentNode(name=argument.name, value=value))
    return ConstDirectiveNode(name=link.name, arguments=tuple(arguments))


def subgraph_sdl(schema: strawberry.federation.Schema, domain: str) -> str:
    """The federation SDL of `domain`'s part of `schema`."""
    if domain not in DOMAINS:
        raise ValueError(f"{domain!r} is not one of {', '.join(DOMAINS)}")
    owners = field_owners(schema)
    document = parse(schema.as_str())
    types: dict[str, TypeDefinitionNode] = {
        node.name.value: node for node in document.definitions if isinstance(node, TypeDefinitionNode)
    }
    requires = {pair: fields for pair, fields in REQUIRES.items() if owners.get(pair) == domain}
    externals = {pair for (name, _), fields in requires.items() for pair in _field_set(types, name, fields)}

    def kept_fields(node: ObjectTypeDefinitionNode) -> list[FieldDefinitionNode]:
        name, keys = node.name.value, _keys(node)
        return [
            field
            for field in node.fields or ()
            if field.name.value in keys
            or (name, field.name.value) in externals
            or owners.get((name, field.name.value), domain) in (domain, "common")
        ]

    def announced(name: str, field: FieldDefinitionNode) -> FieldDefinitionNode:
        pair = (name, field.name.value)
        added = [_directive("external")] if pair in externals else []
        if pair in requires:
            added.append(_directive("requires", requires[pair]))
        if not added:
            return field
        return FieldDefinitionNode(
            name=field.name,
            description=field.description,
            arguments=field.arguments,
            type=field.type,
            directives=(*(field.directives or ()), *added),
        )

    # Roots: the domain's root fields, and the entities it adds fields to.
    reached: set[str] = set()
    pending = [
        name
        for name, node in types.items()
        if isinstance(node, ObjectTypeDefinitionNode)
        and (name in ROOTS or _keys(node))
        and any(owners.get((name, f.name.value)) == domain for f in node.fields or ())
    ]
    while pending:
        name = pending.pop()
        if name in reached or name not in types:
            continue
        reached.add(name)
        node = types[name]
        fields: Iterable[FieldDefinitionNode | InputValueDefinitionNode] = ()
        if isinstance(node, ObjectTypeDefinitionNode):
            fields = kept_fields(node)
        elif isinstance(node, InputObjectTypeDefinitionNode):
            fields = node.fields or ()
        for field in fields:
            pending.append(_named(field.type))
            pending.extend(_named(argument.type) for argument in getattr(field, "arguments", None) or ())

    imports = [name for name, used in (("@external", externals), ("@requires", requires)) if used]
    definitions: list[DefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            operations = tuple(op for op in definition.operation_types if op.type.name.value in ROOTS)
            directives = tuple(
                _with_imports(d, imports) if d.name.value == "link" else d
                for d in definition.directives or ()
            )
            definitions.append(SchemaDefinitionNode(directives=directives, operation_types=operations))
        elif isinstance(definition, ObjectTypeDefinitionNode):
            name = definition.name.value
            if name in reached and name not in FEDERATION_TYPES:
                kept = [
                    announced(name, f) for f in kept_fields(definition) if not f.name.value.startswith("_")
                ]
                definitions.append(
                    ObjectTypeDefinitionNode(
                        name=definition.name,
                        description=definition.description,
                        interfaces=definition.interfaces,
                        directives=definition.directives,
                        fields=tuple(kept),
                    )
                )
        elif isinstance(definition, TypeDefinitionNode):
            if definition.name.value in reached and definition.name.value not in FEDERATION_TYPES:
                definitions.append(definition)
        else:
            definitions.append(definition)
    return print_ast(DocumentNode(definitions=tuple(definitions)))


@strawberry.type(name="_Service")
class ServiceSdl:
    sdl: str


class SubgraphSchema(GatewaySchema):
    """The whole schema as `domain`'s subgraph: `_entities` loads the entities the domain owns and
    builds the others (which it only extends) from their representations, without calling their owner.
    With no domain (the gateway), every entity is loaded from the service owning it."""

    def __init__(self, domain: str | None, **kwargs: Any) -> None:
        self.domain = domain
        super().__init__(**kwargs)

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


def gateway_schema(extensions: list[Any] | None = None) -> SubgraphSchema:
    """The gateway's whole graph; its `_entities` loads each entity from the service owning it."""
    return SubgraphSchema(
        None, query=Query, subscription=Subscription, types=[Trace, Span], extensions=extensions or []
    )


def subgraph_schema(domain: str, extensions: list[Any] | None = None) -> SubgraphSchema:
    """The whole schema, announcing only `domain`'s part as its `_service { sdl }`."""
    sdl = subgraph_sdl(build_schema(), domain)

    def announce() -> ServiceSdl:
        return ServiceSdl(sdl=sdl)

    announce.__annotations__["return"] = ServiceSdl
    query = strawberry.type(
        type("Query", (Query,), {"service_": strawberry.field(name="_service", resolver=announce)}),
        name="Query",
    )
    return SubgraphSchema(
        domain, query=query, subscription=Subscription, types=[Trace, Span], extensions=extensions or []
    )


def subgraph_routes(
    domain: str, app: ASGIApp, max_depth: int = 12, max_complexity: int = 20_000
) -> list[BaseRoute]:
    """`/graphql` (HTTP and WebSocket) serving `domain`'s subgraph over `app`, the service's routes.

    `app` is the service's inner app: its `AuthMiddleware` has already admitted the `/graphql` request and
    set the tenant scope, which the in-process calls inherit.
    """
    client = ServiceClient.in_process(domain, app, Resilience(ResilienceConfig(), domain))
    graphql = GraphQLApp(subgraph_schema(domain, limits(max_depth, max_complexity)), {domain: client})
    return [Route("/graphql", graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", graphql)]


__all__ = [
    "REQUIRES",
    "SubgraphSchema",
    "gateway_schema",
    "subgraph_routes",
    "subgraph_schema",
    "subgraph_sdl",
]
