"""The GraphQL ASGI app the gateway and each service's subgraph serve: context, limits, coded errors.

Every error carries `extensions.code` (UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, RATE_LIMITED,
UPSTREAM_UNAVAILABLE, NOT_FOUND, INTERNAL_SERVER_ERROR); unexpected exceptions are logged here and
answered with a neutral message, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from collector.auth.principal import ANONYMOUS, AuthError, Principal
from gateway.errors import ErrorCode, GatewayError
from gateway.graph.context import GraphContext
from gateway.limits import complexity_rule
from gateway.upstream import DEFAULT_FORWARD_HEADERS

log = logging.getLogger("airis.gateway")
CACHED_QUERIES = 512
"""Distinct query texts whose parse and validation are kept."""


def coded(error: GraphQLError) -> GraphQLError:
    """`error` with `extensions.code` set, and a neutral message for unexpected exceptions."""
    original = error.original_error
    code: str | None = (error.extensions or {}).get("code")
    extensions: dict[str, Any] = dict(error.extensions or {})
    message = error.message
    if isinstance(original, GatewayError):
        extensions.update(original.extensions())
    elif isinstance(original, AuthError):
        extensions["code"] = original.code
    elif original is None:
        extensions.setdefault("code", ErrorCode.BAD_USER_INPUT.value)  # parse, validation, limits
    elif isinstance(original, InvalidOperationTypeError):  # a query over the legacy graphql-ws
        extensions["code"] = ErrorCode.BAD_USER_INPUT.value
        message = f"{error.message} over graphql-ws; send them over HTTP or graphql-transport-ws"
    elif code is None:
        log.error("unexpected error in %s", ".".join(map(str, error.path or [])), exc_info=original)
        extensions["code"] = ErrorCode.INTERNAL_SERVER_ERROR.value
        message = "internal error; the gateway's log has the details"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class CodedErrors(MaskErrors):
    """Gives every error a code (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _error: True)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return coded(error)


def limits(max_depth: int, max_complexity: int) -> list[Callable[[], SchemaExtension]]:
    """Factories of the schema extensions every airis GraphQL endpoint runs (fresh ones per operation).

    Parsed documents and validation results are cached by query text (dashboards repeat their
    queries): validation is most of a small query's cost. The rules are made once, so cache keys hold.
    """
    rules: list[type[ASTValidationRule]] = [
        create_validator(max_depth, None),
        complexity_rule(max_complexity),
    ]
    return [
        lambda: ParserCache(maxsize=CACHED_QUERIES),
        lambda: ValidationCache(maxsize=CACHED_QUERIES),
        lambda: AddValidationRules(rules),
        CodedErrors,
    ]


class GraphQLApp(GraphQL):
    """strawberry's ASGI app, with a GraphContext for each operation (the caller from AuthMiddleware)."""

    def __init__(
        self,
        schema: strawberry.Schema,
        clients: Mapping[str, Any],
        graphiql: bool = True,
        forwarded: tuple[str, ...] = DEFAULT_FORWARD_HEADERS,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        )
        self.clients = clients
        self.forwarded = forwarded

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """The answer, with a code also on errors no extension saw (a syntax error that the parser
        cache raises before the operation's extensions can mask it)."""
        if result.errors:
            result.errors = [e if (e.extensions or {}).get("code") else coded(e) for e in result.errors]
        return await super().process_result(request, result)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> GraphContext:  # type: ignore[override]
        state = request.scope.get("state") or {}
        principal = state.get("principal", ANONYMOUS)
        assert isinstance(principal, Principal)
        headers = {name: request.headers[name] for name in self.forwarded if name in request.headers}
        return GraphContext(
            clients=self.clients, headers=headers, principal=principal, request=request, response=response
        )


__all__ = ["CodedErrors", "GraphQLApp", "coded", "limits"]
