"""What the query services share: their config, the starlette app around their routes, bounded inputs.

A service (`traces_service`, `logs_service`, `metrics_service`) is an extension that looks up a
backend of a `clickhouse_storage` extension by name at start and serves its routes, an OpenAPI
document (`/openapi.json`) and `/health` on its own endpoint. Handlers read user input only through
the `Query` helpers below, which turn bad input into `BadRequestError` (400, naming the parameter) and
cap limits and time ranges; SQL receives user values only as bound parameters.

Every route but `/health` and `/openapi.json` needs a viewer (`auth`: an `auth` extension, or `none`).
A caller restricted to some tenants reads only their rows: service SQL names tables only through
`Store.table`, which then answers a subquery keeping the rows of the caller's tenants (`current_scope`).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from collector.auth.principal import Role, TenantScope, current_scope
from collector.auth.setting import AuthSetting, auth_off_warning
from collector.component import ComponentId, Host, Settings
from collector.config import split_host_port
from collector.configstruct import format_duration
from collector.errors import AirisError, ConfigError, Problem
from collector.httpserver import HttpServer

if TYPE_CHECKING:
    from backend.clickhouse.backend import ClickHouseBackend

T = TypeVar("T")
NANOS = 1_000_000_000


class BadRequestError(AirisError):
    """The client's input is invalid: answered with 400 and this message."""

    def __init__(self, message: str, parameter: str = "") -> None:
        super().__init__(f"{parameter}: {message}" if parameter else message)
        self.parameter = parameter


class QueryTimeoutError(AirisError):
    """A query ran longer than the service's `query_timeout`: answered with 503."""


@dataclass
class ServiceConfig:
    """Config every query service shares (each service sets its own default endpoint)."""

    endpoint: str = "127.0.0.1:0"
    """host:port of the HTTP API."""
    storage: str = "main"
    """The backend name in the `clickhouse_storage` extension."""
    storage_extension: str = "clickhouse_storage"
    """The id of the extension holding `storage`."""
    query_timeout: timedelta = timedelta(seconds=30)
    """How long one request's queries may run in all (also ClickHouse's max_execution_time)."""
    max_limit: int = 10_000
    """The most items (spans, traces, records, series) one request may ask for."""
    max_range: timedelta = timedelta(days=31)
    """The longest time range one request may cover."""
    auth: AuthSetting = field(default_factory=AuthSetting)
    """Who may query: `authenticator: <auth extension id>`, or `none` (required: no silent default)."""

    def validate(self) -> None:
        if problems := self.problems():
            raise ConfigError(problems)

    def problems(self) -> list[Problem]:
        """Every mistake in this config (a service's config extends this list with its own keys)."""
        problems: list[Problem] = []
        try:
            split_host_port(self.endpoint)
        except ValueError as err:
            problems.append(Problem("endpoint", str(err)))
        if not self.storage.strip():
            problems.append(Problem("storage", "must name a backend of the clickhouse_storage extension"))
        try:
            ComponentId.parse(self.storage_extension)
        except ValueError as err:
            problems.append(Problem("storage_extension", str(err)))
        for name in ("query_timeout", "max_range"):
            if getattr(self, name) <= timedelta(0):
                problems.append(Problem(name, f"{format_duration(getattr(self, name))} must be positive"))
        if self.max_limit < 1:
            problems.append(Problem("max_limit", f"{self.max_limit} must be at least 1"))
        if not self.auth.authenticator.strip():  # a malformed one is reported by AuthSetting.validate
            problems.extend(Problem(f"auth::{p.path}", p.message) for p in self.auth.problems(required=True))
        return problems

    @property
    def clickhouse_settings(self) -> dict[str, object]:
        """Settings sent with every query of the service."""
        return {"max_execution_time": max(1, round(self.query_timeout.total_seconds()))}


def storage_dependency(config: ServiceConfig) -> Iterable[ComponentId]:
    """The storage and `auth` extensions, which must start before the service (the factory's `dependencies`)."""
    return [ComponentId.parse(config.storage_extension), *config.auth.dependency()]


# --- tenant scoping ----------------------------------------------------------------------------

UNSCOPED_TABLES = frozenset({"otel_traces_trace_id_ts"})
"""Tables without ResourceAttributes: they only narrow time ranges before a scoped table is read.
Every other table is scoped, so a new table holding tenant data cannot be read unscoped by mistake."""
_ROLLUP = re.compile(r"otel_metrics_\w+_1[mh]")
"""Rollup tables, whose progress markers (MetricName '', no data) tell readers how far they reach."""


def sql_string(text: str) -> str:
    """`text` as a ClickHouse string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tenant_condition(scope: TenantScope) -> str:
    """The SQL condition keeping the rows of `scope`'s tenants (of a table with ResourceAttributes)."""
    tenants = ", ".join(sql_string(tenant) for tenant in scope.tenants or ())
    if not tenants:
        return "0"
    return f"ResourceAttributes[{sql_string(scope.attribute)}] IN ({tenants})"


class Store:
    """A service's view of its backend: every query carries the service's settings and overall timeout."""

    def __init__(self, backend: ClickHouseBackend, config: ServiceConfig) -> None:
        self.backend = backend
        self.config = config

    def table(self, name: str, final: bool = False) -> str:
        """What a query reads table `name` from (with FINAL when `final`): its quoted, qualified name, or,
        for a caller restricted to some tenants (`current_scope`), a subquery of their rows."""
        qualified = self.backend.table(name)
        source = f"{qualified} FINAL" if final else qualified
        scope = current_scope.get()
        if scope is None or not scope.restricted or name in UNSCOPED_TABLES:
            return source
        condition = tenant_condition(scope)
        if _ROLLUP.fullmatch(name):  # every tenant reads the rollups' progress markers
            condition = f"(MetricName = '' AND empty(ResourceAttributes)) OR {condition}"
        return f"(SELECT * FROM {source} WHERE {condition})"

    async def rows(self, sql: str, parameters: dict[str, object] | None = None) -> list[tuple[Any, ...]]:
        """The rows of `sql` with bound `parameters`."""
        return await self._timed(
            self.backend.query_rows(sql, parameters, settings=self.config.clickhouse_settings)
        )

    async def arrow(self, sql: str, parameters: dict[str, object] | None = None) -> Any:
        """The result of `sql` as an Arrow table."""
        return await self._timed(
            self.backend.query_arrow(sql, parameters, settings=self.config.clickhouse_settings)
        )

    async def _timed(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.config.query_timeout.total_seconds()):
                return await call
        except TimeoutError:
            raise QueryTimeoutError(
                f"the query took longer than {format_duration(self.config.query_timeout)}; "
                "narrow the time range or the filters"
            ) from None


# --- input -------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w|y)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}


def parse_duration(text: str, parameter: str) -> timedelta:
    """A Go/Prometheus duration (`1h30m`, `250ms`, `1.5s`, `2d`) or plain seconds (`90`, `1.5`)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise BadRequestError(
                f"{text!r} is not a duration (e.g. 250ms, 1.5s, 1h30m)", parameter
            ) from None
    if seconds < 0 or math.isnan(seconds):
        raise BadRequestError(f"{text!r} must be a non-negative duration", parameter)
    return timedelta(seconds=seconds)


def parse_time(text: str, parameter: str) -> int:
    """Unix nanoseconds from RFC 3339 (`2026-11-26T10:00:00Z`) or Unix seconds (`1764151200.5`)."""
    text = text.strip()
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BadRequestError(
                f"{text!r} is not a time (RFC 3339 like 2026-11-26T10:00:00Z, or Unix seconds)", parameter
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86400 + delta.seconds) * NANOS + delta.microseconds * 1000
    if not seconds.is_finite() or abs(seconds) > 10**13:
        raise BadRequestError(f"{text!r} is out of range", parameter)
    return int(seconds * NANOS)


def now_ns() -> int:
    """The current time in Unix nanoseconds."""
    return time.time_ns()


class Query:
    """Typed, bounded access to a request's query parameters; every failure is a `BadRequestError`."""

    def __init__(self, request: Request, config: ServiceConfig) -> None:
        self.params = request.query_params
        self.config = config

    def text(self, name: str, default: str = "") -> str:
        """A string parameter (`default` when absent)."""
        return self.params.get(name, default)

    def texts(self, name: str) -> list[str]:
        """Every value of a repeated parameter."""
        return self.params.getlist(name)

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        """An integer parameter within [minimum, maximum]."""
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequestError(f"{raw!r} is not an integer", name) from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and {maximum}" if maximum is not None else ""
            raise BadRequestError(f"{value} must be between {minimum}{upper}", name)
        return value

    def limit(self, name: str = "limit", default: int = 100) -> int:
        """A result limit: at least 1, at most the service's `max_limit`."""
        return self.integer(name, min(default, self.config.max_limit), 1, self.config.max_limit)

    def duration(self, name: str, default: timedelta | None = None) -> timedelta | None:
        """A duration parameter (see `parse_duration`)."""
        raw = self.params.get(name)
        return default if raw is None or raw == "" else parse_duration(raw, name)

    def time(self, name: str, default: int | None = None) -> int | None:
        """A time parameter in Unix nanoseconds (see `parse_time`)."""
        raw = self.params.get(name)
        return default if raw is None or raw == "" else parse_time(raw, name)

    def time_range(
        self, start: str = "start", end: str = "end", default_span: timedelta = timedelta(hours=1)
    ) -> tuple[int, int]:
        """(start, end) in Unix nanoseconds: end defaults to now, start to end - `default_span`.

        A range longer than the service's `max_range`, or ending before it starts, is a `BadRequestError`.
        """
        end_ns = self.time(end)
        end_ns = now_ns() if end_ns is None else end_ns
        start_ns = self.time(start)
        start_ns = end_ns - int(default_span.total_seconds() * NANOS) if start_ns is None else start_ns
        check_range(start_ns, end_ns, self.config, f"{start}, {end}")
        return start_ns, end_ns


def check_range(start_ns: int, end_ns: int, config: ServiceConfig, parameter: str) -> None:
    """BadRequestError unless start <= end and the range is at most `config.max_range`."""
    if end_ns < start_ns:
        raise BadRequestError("the end is before the start", parameter)
    if end_ns - start_ns > config.max_range.total_seconds() * NANOS:
        raise BadRequestError(
            f"the time range is longer than max_range ({format_duration(config.max_range)})", parameter
        )


# --- the app ----------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _bad_request(_request: Request, exc: Exception) -> Response:
    return _error(400, str(exc))


async def _timeout(_request: Request, exc: Exception) -> Response:
    return _error(503, str(exc))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


def openapi_document(title: str, routes: Sequence[BaseRoute], prefix: str = "") -> dict[str, Any]:
    """An OpenAPI 3.1 document listing every route with its docstring's first line as summary."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, Mount):
            nested = openapi_document(title, route.routes, prefix + route.path)
            paths.update(nested["paths"])
        elif isinstance(route, Route) and route.include_in_schema:
            doc = (route.endpoint.__doc__ or "").strip()
            summary = doc.splitlines()[0] if doc else route.name
            path = prefix + route.path_format
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in route.param_convertors
            ]
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                operation: dict[str, Any] = {
                    "summary": summary,
                    "operationId": f"{route.name}_{method.lower()}",
                    "responses": {"200": {"description": "OK"}, "400": {"description": "Bad input"}},
                }
                if parameters:
                    operation["parameters"] = parameters
                if len(doc.splitlines()) > 1:
                    operation["description"] = doc
                paths.setdefault(path, {})[method.lower()] = operation
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"}, "paths": paths}


def service_app(
    title: str,
    routes: list[BaseRoute],
    exception_handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] | None = None,
) -> Starlette:
    """A starlette app of `routes` plus `/health` and `/openapi.json`; BadRequestError → 400, timeouts → 503."""

    async def health(_request: Request) -> Response:
        """Whether the service is up."""
        return JSONResponse({"status": "ok", "service": title})

    async def openapi(_request: Request) -> Response:
        """This document."""
        return JSONResponse(document)

    all_routes = [
        *routes,
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    ]
    document = openapi_document(title, all_routes)
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        BadRequestError: _bad_request,
        QueryTimeoutError: _timeout,
        HTTPException: _http_error,
    }
    handlers.update(exception_handlers or {})
    return Starlette(routes=all_routes, exception_handlers=handlers)


OPEN_PATHS = frozenset({"/health", "/openapi.json"})
"""The paths anyone may call: the service's health and its API's description."""


def required_role(method: str, path: str) -> Role | None:
    """Who may call `path` of a query service: anyone for `OPEN_PATHS`, a viewer for every other."""
    return None if path in OPEN_PATHS else Role.VIEWER


class QueryService:
    """A query-service extension: on start, find the backend and serve the app `build(store)` returns."""

    title = "airis query service"
    graph_domain: str | None = None
    """The service's part of the GraphQL schema (`traces`, `logs`, `metrics`), served at /graphql."""

    def __init__(self, settings: Settings, config: ServiceConfig) -> None:
        self.settings = settings
        self.config = config
        self.store: Store | None = None
        self.app: Starlette | None = None
        """The routes, without authentication."""
        self.asgi: ASGIApp | None = None
        """What the server serves: `app` behind the `auth` extension (callers in-process use this too)."""
        self.server: HttpServer | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with endpoint port 0)."""
        return self.server.port if self.server else 0

    def build(self, store: Store) -> Starlette:
        """The service's app over `store` (subclasses)."""
        raise NotImplementedError

    async def start(self, host: Host) -> None:
        from backend.clickhouse.extension import backend_in
        from collector.auth.asgi import AuthMiddleware
        from gateway.subgraph import subgraph_routes

        prefix = f"extensions::{self.settings.id}"
        if problems := self.config.auth.problems(required=True):
            raise ConfigError([Problem(f"{prefix}::auth::{p.path}", p.message) for p in problems])
        authenticator = self.config.auth.resolve(host, f"{prefix}::auth")
        try:
            backend = backend_in(host.extensions(), self.config.storage)
        except KeyError as err:
            raise ConfigError([Problem(f"{prefix}::storage", str(err.args[0]))]) from None
        self.store = Store(backend, self.config)
        self.app = self.build(self.store)
        if self.graph_domain is not None:
            # The service's part of the GraphQL graph (a federation subgraph); its calls reach the inner
            # app, in the tenant scope AuthMiddleware set for the /graphql request.
            self.app.router.routes.extend(subgraph_routes(self.graph_domain, self.app))
        self.asgi = AuthMiddleware(self.app, authenticator, self.settings.id.type, required_role)
        self.server = HttpServer(self.asgi, self.config.endpoint, f"extension {self.settings.id}")
        await self.server.start()
        self.settings.logger.info(
            "%s listening on http://%s (storage %r)", self.title, self.config.endpoint, self.config.storage
        )
        if authenticator is None:
            host_name, _ = split_host_port(self.config.endpoint)
            self.settings.logger.warning("%s", auth_off_warning(host_name, self.port))

    async def shutdown(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.shutdown()


__all__ = [
    "NANOS",
    "OPEN_PATHS",
    "UNSCOPED_TABLES",
    "BadRequestError",
    "Query",
    "QueryService",
    "QueryTimeoutError",
    "ServiceConfig",
    "Store",
    "check_range",
    "now_ns",
    "openapi_document",
    "parse_duration",
    "parse_time",
    "required_role",
    "service_app",
    "sql_string",
    "storage_dependency",
    "tenant_condition",
]
