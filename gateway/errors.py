"""The errors the gateway answers with: a GraphQL error code and a message fit for the caller.

AirisError
└── GatewayError   code (ErrorCode), a message without internals, maybe `service` and `retry_after`
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from collector.errors import AirisError


class ErrorCode(StrEnum):
    """`extensions.code` of a GraphQL error (Apollo's names where they exist)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class GatewayError(AirisError):
    """A failure shown to the GraphQL caller: `message` never holds a stack trace or internal detail.

    `retryable` marks failures worth another attempt (connect errors, timeouts, 502/503/504).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        service: str | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.service = service
        self.retry_after = retry_after
        self.retryable = retryable

    def extensions(self) -> dict[str, Any]:
        """The GraphQL error's `extensions`: code, and the service and whole seconds to wait when known."""
        extensions: dict[str, Any] = {"code": self.code.value}
        if self.service is not None:
            extensions["service"] = self.service
        if self.retry_after is not None:
            extensions["retryAfter"] = max(1, math.ceil(self.retry_after))
        return extensions


def code_for_status(status: int) -> ErrorCode:
    """The code of an upstream HTTP status (other 4xx are the caller's input, other non-2xx internal)."""
    if status in (400, 422):
        return ErrorCode.BAD_USER_INPUT
    named = {
        401: ErrorCode.UNAUTHENTICATED,
        403: ErrorCode.FORBIDDEN,
        404: ErrorCode.NOT_FOUND,
        429: ErrorCode.RATE_LIMITED,
    }
    if status in named:
        return named[status]
    if 500 <= status < 600:
        return ErrorCode.UPSTREAM_UNAVAILABLE
    if 400 <= status < 500:
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.INTERNAL_SERVER_ERROR


def unavailable(
    service: str, reason: str = "", *, retryable: bool = False, retry_after: float | None = None
) -> GatewayError:
    """UPSTREAM_UNAVAILABLE: "the `service` service is unavailable" with a short, neutral `reason`."""
    message = f"the {service} service is unavailable" + (f": {reason}" if reason else "")
    return GatewayError(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        message,
        service=service,
        retry_after=retry_after,
        retryable=retryable,
    )


__all__ = ["ErrorCode", "GatewayError", "code_for_status", "unavailable"]
