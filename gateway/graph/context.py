"""What every resolver reaches through `info.context`: the service clients, the caller, per-request loaders."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from collector.auth.principal import ANONYMOUS, Principal
from gateway.errors import ErrorCode, GatewayError, unavailable

if TYPE_CHECKING:
    from gateway.upstream import ServiceClient, SseEvent

log = logging.getLogger("airis.gateway")
K = TypeVar("K")
V = TypeVar("V")
Params = Sequence[tuple[str, str]]


@dataclass
class GraphContext:
    """One GraphQL operation's view of the world."""

    clients: Mapping[str, ServiceClient]
    """Clients of the services by domain: `traces`, `logs`, `metrics`."""
    headers: dict[str, str] = field(default_factory=dict)
    """The caller's credentials (authorization, tenant header), forwarded to the services."""
    principal: Principal = ANONYMOUS
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    request: Any = None
    response: Any = None

    def client(self, domain: str) -> ServiceClient:
        """The client of `domain`'s service; UPSTREAM_UNAVAILABLE when none is configured."""
        client = self.clients.get(domain)
        if client is None:
            raise GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE, f"the {domain} service is not configured")
        return client

    async def get(self, domain: str, path: str, params: Params = (), *, not_found_none: bool = False) -> Any:
        """GET `path` of `domain`'s service as JSON, with the caller's credentials."""
        return await self.client(domain).get_json(
            path, list(params), self.headers, not_found_none=not_found_none
        )

    async def events(self, domain: str, path: str, params: Params = ()) -> AsyncIterator[SseEvent]:
        """The Server-Sent Events of `path` of `domain`'s service, until the caller stops; an `error`
        event (the service's query failed and it ended the stream) is UPSTREAM_UNAVAILABLE."""
        async with self.client(domain).stream_events(path, list(params), self.headers) as stream:
            async for event in stream:
                if event.event == "error":
                    log.warning("%s service: a live stream ended with an error: %s", domain, event.data)
                    raise unavailable(domain, "the live stream failed; subscribe again")
                yield event

    def loader(self, name: str, load: Callable[[list[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
        """This operation's DataLoader `name` (created on first use): one batched call per tick."""
        found = self.loaders.get(name)
        if found is None:
            found = self.loaders[name] = DataLoader(load_fn=load)
        return found


def context_of(info: Info[Any, Any]) -> GraphContext:
    """The GraphContext of a resolver's `info`."""
    context = info.context
    assert isinstance(context, GraphContext)
    return context


__all__ = ["GraphContext", "Params", "context_of"]
