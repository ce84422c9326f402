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
    parse,
    print_ast,
)
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp

from gateway.app import GraphQLApp, limits
from gateway.graph.schema import (
    DOMAINS,
    GatewaySchema,
    Query,
    Subscription,
    field_owners,
)
from gateway.graph.traces import Span, Trace
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


def subgraph_schema(domain: str, extensions: list[Any] | None = None) -> GatewaySchema:
    """The whole schema, announcing only `domain`'s part as its `_service { sdl }`."""
    announced: list[str] = []  # the SDL, filled in once the schema it is printed from exists

    def announce() -> ServiceSdl:
        return ServiceSdl(sdl=announced[0])

    announce.__annotations__["return"] = ServiceSdl
    query = strawberry.type(
        type("Query", (Query,), {"service_": strawberry.field(name="_service", resolver=announce)}),
        name="Query",
    )
    schema = GatewaySchema(
        domain, query=query, subscription=Subscription, types=[Trace, Span], extensions=extensions or []
    )
    announced.append(subgraph_sdl(schema, domain))
    return schema


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
    "subgraph_routes",
    "subgraph_schema",
    "subgraph_sdl",
]
