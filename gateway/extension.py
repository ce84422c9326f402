"""The `graphql_gateway` extension: one GraphQL endpoint over the trace, log and metrics services."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from collector.auth.asgi import AuthMiddleware
from collector.auth.principal import AuthError
from collector.auth.setting import auth_off_warning
from collector.component import ComponentId, Host, Settings
from collector.config import split_host_port
from collector.errors import ConfigError, Problem
from collector.httpserver import HttpServer
from gateway.app import GraphQLApp, limits
from gateway.config import GatewayConfig
from gateway.graph.schema import build_schema
from gateway.resilience import Resilience
from gateway.upstream import DEFAULT_FORWARD_HEADERS, ServiceClient

SURFACE = "graphql_gateway"


def graphql_error_body(error: AuthError) -> dict[str, object]:
    """An auth failure as a GraphQL response body."""
    return {"errors": [{"message": str(error), "extensions": {"code": error.code}}]}


def service_app_of(host: Host, extension: str, key: str) -> Any:
    """The ASGI app (with its auth layer) of a started service extension."""
    component = host.extensions().get(ComponentId.parse(extension))
    app = getattr(component, "asgi", None) or getattr(component, "app", None)
    if app is None:
        raise ConfigError([Problem(key, f"{extension!r} is not a started query service extension")])
    return app


class GraphQLGateway:
    """Serves `/graphql` (queries, GraphiQL, subscriptions over graphql-ws) on its endpoint."""

    def __init__(self, settings: Settings, config: GatewayConfig) -> None:
        self.settings = settings
        self.config = config
        self.clients: dict[str, ServiceClient] = {}
        self.asgi: Any = None
        self.server: HttpServer | None = None

    @property
    def port(self) -> int:
        return self.server.port if self.server else 0

    def _clients(self, host: Host, forwarded: tuple[str, ...]) -> dict[str, ServiceClient]:
        clients = {}
        for name, upstream in self.config.upstreams().items():
            resilience = Resilience(upstream, name)
            key = f"extensions::{self.settings.id}::{name}"
            if upstream.endpoint:
                clients[name] = ServiceClient.over_http(
                    name, upstream.endpoint, resilience, upstream.tls, forwarded, tls_path=f"{key}::tls"
                )
            elif upstream.extension:
                app = service_app_of(host, upstream.extension, f"{key}::extension")
                clients[name] = ServiceClient.in_process(name, app, resilience, forwarded)
        return clients

    async def start(self, host: Host) -> None:
        authenticator = self.config.auth.resolve(host, f"extensions::{self.settings.id}::auth")
        forwarded = DEFAULT_FORWARD_HEADERS
        if authenticator is not None:
            forwarded = ("authorization", authenticator.tenant_header.lower())
        self.clients = self._clients(host, forwarded)
        schema = build_schema(limits(self.config.max_depth, self.config.max_complexity))
        graphql = GraphQLApp(schema, self.clients, graphiql=self.config.graphiql, forwarded=forwarded)

        async def health(_request: Request) -> Response:
            return JSONResponse({"status": "ok", "service": "airis graphql gateway"})

        async def home(_request: Request) -> Response:
            return RedirectResponse("/graphql")

        app = Starlette(
            routes=[
                Route("/graphql", graphql, methods=["GET", "POST"]),
                WebSocketRoute("/graphql", graphql),
                Route("/health", health, methods=["GET"]),
                Route("/", home, methods=["GET"]),
            ]
        )
        self.asgi = AuthMiddleware(app, authenticator, SURFACE, error_body=graphql_error_body)
        self.server = HttpServer(self.asgi, self.config.endpoint, f"extension {self.settings.id}")
        await self.server.start()
        where = ", ".join(
            f"{name} {'at ' + u.endpoint if u.endpoint else 'in-process'}"
            for name, u in self.config.upstreams().items()
            if name in self.clients
        )
        self.settings.logger.info(
            "GraphQL gateway on http://%s/graphql (%s)", self.config.endpoint, where or "no services"
        )
        if authenticator is None:
            host_name, _ = split_host_port(self.config.endpoint)
            self.settings.logger.warning("GraphQL gateway: %s", auth_off_warning(host_name, self.port))

    async def shutdown(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.shutdown()
        clients, self.clients = self.clients, {}
        for client in clients.values():
            await client.aclose()


__all__ = ["GraphQLGateway", "graphql_error_body"]
