"""The `forward` connector: passes batches unchanged from one pipeline to others of the same signal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from collector.component import Connector, ConnectorFactory, Consumer, Host, Settings, Stability
from collector.signal import Signal

if TYPE_CHECKING:
    from collector.pdata import Batch


@dataclass
class ForwardConnectorConfig:
    """The forward connector takes no settings."""


class ForwardConnector:
    """Consumes in one pipeline, emits the same batch into the next ones."""

    def __init__(self, next_consumer: Consumer) -> None:
        self.next = next_consumer

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def consume(self, batch: Batch) -> None:
        await self.next.consume(batch)


def create_connector(
    settings: Settings,
    config: ForwardConnectorConfig,
    source: Signal,
    target: Signal,
    next_consumer: Consumer,
) -> Connector:
    return ForwardConnector(next_consumer)


FACTORY = ConnectorFactory(
    type="forward",
    config_type=ForwardConnectorConfig,
    create=create_connector,
    signals={(s, s): Stability.BETA for s in Signal},
)
