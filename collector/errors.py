"""The exceptions of airis.

AirisError
├── ConfigError          one or more configuration problems, each with its key path
└── ConsumeError         a consumer refused or failed to take a batch
    ├── RetryableError   try again later (gRPC UNAVAILABLE / HTTP 429, 503), maybe after `retry_after`
    └── PermanentError   never retry (gRPC INVALID_ARGUMENT / HTTP 400, 500)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class AirisError(Exception):
    """Base class of every error airis raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One configuration mistake: where it is (`receivers::otlp::timeout`) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(AirisError):
    """The configuration is invalid; `problems` lists every mistake found, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line, under a heading that counts them."""
        count = len(self.problems)
        heading = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([heading, *(f"  - {p}" for p in self.problems)])


class ConsumeError(AirisError):
    """A consumer could not take a batch."""


class RetryableError(ConsumeError):
    """The batch was refused for now; the sender may retry, after `retry_after` seconds if given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConsumeError):
    """The batch can never be accepted; retrying is pointless."""
