"""The errors of PromQL evaluation, each carrying the HTTP status and `errorType` Prometheus answers with.

PromQLError
├── BadDataError       400 bad_data: the query or a parameter cannot be parsed or is out of range
└── ExecutionError     422 execution: a valid query that cannot be evaluated
    └── UnsupportedError   422 execution: "unsupported in airis: <feature>"
(a query running out of time is backend.service.QueryTimeoutError: 503 timeout)
"""

from __future__ import annotations

from collector.errors import AirisError


class PromQLError(AirisError):
    """A failure answered as Prometheus does: `{"status": "error", "errorType": ..., "error": ...}`."""

    status = 500
    error_type = "internal"


class BadDataError(PromQLError):
    """The query or a parameter is malformed (400, `bad_data`)."""

    status = 400
    error_type = "bad_data"


class ExecutionError(PromQLError):
    """A well-formed query that cannot be evaluated (422, `execution`)."""

    status = 422
    error_type = "execution"


class UnsupportedError(ExecutionError):
    """Valid PromQL outside the subset airis evaluates."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"unsupported in airis: {feature}")
        self.feature = feature


__all__ = ["BadDataError", "ExecutionError", "PromQLError", "UnsupportedError"]
