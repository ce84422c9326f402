"""`AuthMiddleware`: authentication, roles, tenant scope and rate limits in front of any ASGI app.

For each `http` and `websocket` request whose path needs a role, the middleware authenticates the
caller, checks the role, narrows the tenant scope and takes one request from the caller's rate limit;
then it serves the app with `scope["state"]["principal"]` and `current_scope` set for the call.

Refusals: over HTTP a JSON body with the error's status (401 with `WWW-Authenticate: Bearer`, 403,
429 with `Retry-After`). A WebSocket handshake is refused before it is accepted: with the ASGI
`websocket.http.response` extension (uvicorn, starlette's TestClient) the client gets that same HTTP
response (status, headers, JSON body); without it the handshake is closed with code 4401, 4403 or 4429,
which servers turn into a plain HTTP 403 the client sees as a failed handshake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.auth.principal import (
    ANONYMOUS,
    Authenticator,
    AuthError,
    ForbiddenError,
    Principal,
    RateLimitedError,
    Role,
    TenantScope,
    current_scope,
)

RequiredRole = Callable[[str, str], Role | None]
ErrorBody = Callable[[AuthError], dict[str, object]]
_CLOSE_CODES = {401: 4401, 403: 4403, 429: 4429}


def viewer_except_health(method: str, path: str) -> Role | None:
    """The default rule: `/health` is open to anyone, every other path needs a viewer."""
    return None if path.rstrip("/") == "/health" else Role.VIEWER


def default_error_body(error: AuthError) -> dict[str, object]:
    """`{"error": message, "code": CODE}`."""
    return {"error": str(error), "code": error.code}


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name; repeated ones joined with ", " (as HTTP allows)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def retry_after_seconds(error: RateLimitedError) -> int:
    """`Retry-After` in whole seconds, at least 1."""
    return max(1, math.ceil(error.retry_after))


class AuthMiddleware:
    """Pure ASGI middleware putting an `Authenticator` (None = authentication off) in front of `app`."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator | None,
        surface: str,
        required_role: RequiredRole = viewer_except_health,
        error_body: ErrorBody | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.surface = surface
        self.required_role = required_role
        self.error_body = error_body or default_error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")  # a WebSocket handshake is a GET
        role = self.required_role(method, scope["path"])
        if role is None:
            await self._serve(scope, receive, send, None, None)
            return
        if self.authenticator is None:
            await self._serve(scope, receive, send, ANONYMOUS, None)
            return
        try:
            principal, tenants = await self._admit(scope, method, role, self.authenticator)
        except AuthError as err:
            if scope["type"] == "http":
                await self._refuse_http(send, err)
            else:
                await self._refuse_websocket(scope, receive, send, err)
            return
        await self._serve(scope, receive, send, principal, tenants)

    async def _admit(
        self, scope: Scope, method: str, role: Role, authenticator: Authenticator
    ) -> tuple[Principal, TenantScope]:
        headers = request_headers(scope)
        principal = await authenticator.authenticate(headers)
        if not principal.allows(role):
            raise ForbiddenError(
                f"{method} {scope['path']} needs role {role.name.lower()}; "
                f"{principal.subject} has {principal.role.name.lower()}"
            )
        tenants = authenticator.scope(principal, headers)
        await authenticator.check_rate(principal, self.surface)
        return principal, tenants

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        principal: Principal | None,
        tenants: TenantScope | None,
    ) -> None:
        if principal is not None:
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            state["principal"] = principal
        token = current_scope.set(tenants)
        try:
            await self.app(scope, receive, send)
        finally:
            current_scope.reset(token)

    def _response(self, err: AuthError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        body = json.dumps(self.error_body(err)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if isinstance(err, RateLimitedError):
            headers.append((b"retry-after", str(retry_after_seconds(err)).encode()))
        elif not isinstance(err, ForbiddenError):
            headers.append((b"www-authenticate", b"Bearer"))
        return err.status, headers, body

    async def _refuse_http(self, send: Send, err: AuthError) -> None:
        status, headers, body = self._response(err)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _refuse_websocket(self, scope: Scope, receive: Receive, send: Send, err: AuthError) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client went away before its handshake finished
        if "websocket.http.response" in scope.get("extensions", {}):
            status, headers, body = self._response(err)
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
            return
        reason = str(err).encode()[:123].decode(errors="ignore")  # a close frame's reason is short
        await send({"type": "websocket.close", "code": _CLOSE_CODES.get(err.status, 4401), "reason": reason})


def principal_of(source: Mapping[str, Any] | HTTPConnection) -> Principal:
    """The caller `AuthMiddleware` admitted for an ASGI scope or a starlette Request / WebSocket.

    AuthError when there is none (no middleware in front, or a path that needs no role).
    """
    scope = source.scope if isinstance(source, HTTPConnection) else source
    state = scope.get("state")
    found = state.get("principal") if isinstance(state, Mapping) else None
    if not isinstance(found, Principal):
        raise AuthError("this request was not authenticated")
    return found


__all__ = [
    "AuthMiddleware",
    "ErrorBody",
    "RequiredRole",
    "default_error_body",
    "principal_of",
    "request_headers",
    "retry_after_seconds",
    "viewer_except_health",
]
