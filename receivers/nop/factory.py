"""The `nop` receiver, as the collector's: a pipeline placeholder that never produces data.

A process that only runs query services (a trace service in front of a ClickHouse server, say)
still needs one pipeline: `receivers: [nop]`, `exporters: [nop]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collector.component import Component, Consumer, Host, ReceiverFactory, Settings, Stability
from collector.signal import Signal


@dataclass
class NopReceiverConfig:
    """No settings."""

    def validate(self) -> None:
        pass


class NopReceiver:
    """Starts and stops; sends nothing."""

    async def start(self, host: Host) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def create_receiver(
    settings: Settings, config: NopReceiverConfig, nexts: Mapping[Signal, Consumer]
) -> Component:
    return NopReceiver()


FACTORY = ReceiverFactory(
    type="nop",
    config_type=NopReceiverConfig,
    create=create_receiver,
    signals=dict.fromkeys(Signal, Stability.BETA),
)
