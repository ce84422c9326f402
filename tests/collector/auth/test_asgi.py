"""AuthMiddleware in front of a starlette app: 401/403/429 bodies and headers, scopes, WebSockets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from collector.auth.asgi import AuthMiddleware, principal_of
from collector.auth.extension import AuthExtension
from collector.auth.principal import AuthError, Role, TenantScope, current_scope
from collector.httpserver import HttpServer
from tests.collector.auth import FakeHost, make_auth

TOKENS = """
tokens:
  - {token: viewer-token, subject: viewer, tenants: [acme, beta]}
  - {token: editor-token, subject: editor, role: editor}
  - {token: busy-token, subject: busy}
"""


def described(source: Request | WebSocket) -> dict[str, Any]:
    """What the app sees of the request's caller and tenant scope."""
    scope = current_scope.get()
    try:
        who = principal_of(source)
    except AuthError as err:
        principal: Any = str(err)
    else:
        tenants = None if who.tenants is None else sorted(who.tenants)
        principal = {"subject": who.subject, "role": who.role.name.lower(), "tenants": tenants}
    tenant_scope = None if scope is None else {"attribute": scope.attribute, "tenants": scope.tenants}
    return {"principal": principal, "scope": tenant_scope}


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(described(request))


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(described(websocket))
    await websocket.close()


APP = Starlette(
    routes=[
        Route("/whoami", whoami, methods=["GET", "POST"]),
        Route("/health", whoami),
        WebSocketRoute("/ws", socket),
    ]
)


def editor_for_posts(method: str, path: str) -> Role | None:
    if path == "/health":
        return None
    return Role.EDITOR if method == "POST" else Role.VIEWER


@pytest.fixture
async def auth() -> AsyncIterator[AuthExtension]:
    prefix = f"airis:test:asgi:{uuid.uuid4().hex}:"
    made = make_auth(
        TOKENS + f"rate_limit: {{requests_per_second: 0.001, burst: 3, key_prefix: '{prefix}'}}\n"
    )
    await made.start(FakeHost())  # type: ignore[arg-type]
    yield made
    await made.shutdown()
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://airis")


def as_bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


async def test_an_admitted_caller_reaches_the_app_with_its_principal_and_scope(auth: AuthExtension) -> None:
    async with client(AuthMiddleware(APP, auth, "traces")) as http:
        response = await http.get("/whoami", headers=as_bearer("viewer-token"))
        assert response.status_code == 200
        assert response.json() == {
            "principal": {"subject": "viewer", "role": "viewer", "tenants": ["acme", "beta"]},
            "scope": {"attribute": "tenant.id", "tenants": ["acme", "beta"]},
        }
        response = await http.get("/whoami", headers=as_bearer("viewer-token", **{"X-Scope-OrgID": "beta"}))
        assert response.json()["scope"] == {"attribute": "tenant.id", "tenants": ["beta"]}
        response = await http.get("/whoami", headers=as_bearer("editor-token"))
        assert response.json() == {
            "principal": {"subject": "editor", "role": "editor", "tenants": None},
            "scope": {"attribute": "tenant.id", "tenants": None},
        }


async def test_no_token_is_a_401_with_www_authenticate(auth: AuthExtension) -> None:
    async with client(AuthMiddleware(APP, auth, "traces")) as http:
        response = await http.get("/whoami")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": "no bearer token in the Authorization header",
            "code": "UNAUTHENTICATED",
        }
        response = await http.get("/whoami", headers=as_bearer("wrong-token"))
        assert response.status_code == 401
        assert response.json()["error"] == "the bearer token is not one of the configured tokens"


async def test_a_missing_role_or_tenant_is_a_403(auth: AuthExtension) -> None:
    async with client(AuthMiddleware(APP, auth, "traces", required_role=editor_for_posts)) as http:
        response = await http.post("/whoami", headers=as_bearer("viewer-token"))
        assert response.status_code == 403
        assert "www-authenticate" not in response.headers
        assert response.json() == {
            "error": "POST /whoami needs role editor; viewer has viewer",
            "code": "FORBIDDEN",
        }
        assert (await http.post("/whoami", headers=as_bearer("editor-token"))).status_code == 200
        response = await http.get("/whoami", headers=as_bearer("viewer-token", **{"X-Scope-OrgID": "gamma"}))
        assert response.status_code == 403
        assert response.json() == {
            "error": "viewer may not access tenant 'gamma' (from the X-Scope-OrgID header)",
            "code": "FORBIDDEN",
        }


async def test_an_empty_bucket_is_a_429_with_retry_after(auth: AuthExtension) -> None:
    async with client(AuthMiddleware(APP, auth, "traces")) as http:
        for _ in range(3):
            assert (await http.get("/whoami", headers=as_bearer("busy-token"))).status_code == 200
        response = await http.get("/whoami", headers=as_bearer("busy-token"))
        assert response.status_code == 429
        assert 900 < int(response.headers["retry-after"]) <= 1000
        assert response.json()["code"] == "RATE_LIMITED"
        assert response.json()["error"].startswith("rate limit exceeded on traces (")
    async with client(AuthMiddleware(APP, auth, "logs")) as http:  # another surface, another bucket
        assert (await http.get("/whoami", headers=as_bearer("busy-token"))).status_code == 200


async def test_health_is_open_without_a_token_or_a_rate_limit(auth: AuthExtension) -> None:
    async with client(AuthMiddleware(APP, auth, "traces")) as http:
        for _ in range(5):
            response = await http.get("/health")
            assert response.status_code == 200
            assert response.json() == {"principal": "this request was not authenticated", "scope": None}


async def test_the_callers_context_is_unchanged_after_the_call(auth: AuthExtension) -> None:
    outer = TenantScope("tenant.id", ("outer",))
    token = current_scope.set(outer)
    try:
        async with client(AuthMiddleware(APP, auth, "traces")) as http:
            response = await http.get("/whoami", headers=as_bearer("viewer-token"))
            assert response.json()["scope"]["tenants"] == ["acme", "beta"]
            assert current_scope.get() is outer
            response = await http.get("/health")
            assert response.json()["scope"] is None  # an open path is served unrestricted
            assert current_scope.get() is outer
            assert (await http.get("/whoami")).status_code == 401
            assert current_scope.get() is outer
    finally:
        current_scope.reset(token)
    assert current_scope.get() is None


async def test_without_an_authenticator_everyone_is_anonymous_and_unrestricted() -> None:
    async with client(AuthMiddleware(APP, None, "traces")) as http:
        for _ in range(5):
            response = await http.get("/whoami")
            assert response.json() == {
                "principal": {"subject": "anonymous", "role": "admin", "tenants": None},
                "scope": None,
            }


async def test_error_body_shapes_errors_for_graphql(auth: AuthExtension) -> None:
    def graphql(error: AuthError) -> dict[str, object]:
        return {"errors": [{"message": str(error), "extensions": {"code": error.code}}]}

    async with client(AuthMiddleware(APP, auth, "gateway", error_body=graphql)) as http:
        response = await http.post("/whoami")
        assert response.status_code == 401
        assert response.json() == {
            "errors": [
                {
                    "message": "no bearer token in the Authorization header",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        }


async def test_lifespan_and_other_scopes_pass_through() -> None:
    received: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        received.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        return None

    await AuthMiddleware(app, None, "traces")({"type": "lifespan"}, nothing, ignore)
    assert received == ["lifespan"]


# --- WebSockets -----------------------------------------------------------------------------------


async def test_a_websocket_without_a_token_is_refused_with_an_http_401_before_the_handshake() -> None:
    auth = make_auth(TOKENS)
    server = HttpServer(AuthMiddleware(APP, auth, "gateway"), "127.0.0.1:0", "ws test")
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/ws"
    try:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(url):
                pass
        assert info.value.response.status_code == 401
        assert info.value.response.headers["WWW-Authenticate"] == "Bearer"
        assert info.value.response.body == (
            b'{"error": "no bearer token in the Authorization header", "code": "UNAUTHENTICATED"}'
        )
        async with websockets.connect(url, additional_headers=as_bearer("editor-token")) as ws:
            assert await ws.recv() == (
                '{"principal":{"subject":"editor","role":"editor","tenants":null},'
                '"scope":{"attribute":"tenant.id","tenants":null}}'
            )
    finally:
        await server.shutdown()


async def test_without_the_denial_extension_the_handshake_is_closed_with_4401() -> None:
    sent: list[MutableMapping[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "extensions": {}}
    await AuthMiddleware(APP, make_auth(TOKENS), "gateway")(scope, receive, send)
    assert sent == [
        {"type": "websocket.close", "code": 4401, "reason": "no bearer token in the Authorization header"}
    ]
    forbidden = {
        **scope,
        "headers": [(b"authorization", b"Bearer viewer-token"), (b"x-scope-orgid", b"zeta")],
    }
    sent.clear()
    incoming.append({"type": "websocket.connect"})
    await AuthMiddleware(APP, make_auth(TOKENS), "gateway")(forbidden, receive, send)
    assert [(m["type"], m["code"]) for m in sent] == [("websocket.close", 4403)]
