"""The `syslog` receiver's factory. Imports cheaply: the parsers and pyarrow load in `create`."""

from __future__ import annotations

from collections.abc import Mapping

from collector.component import Component, Consumer, ReceiverFactory, Settings, Stability
from collector.signal import Signal
from receivers.syslog.config import SyslogReceiverConfig

__all__ = ["FACTORY", "create_receiver"]


def create_receiver(
    settings: Settings, config: SyslogReceiverConfig, nexts: Mapping[Signal, Consumer]
) -> Component:
    """One receiver with one listener; no I/O until `start`."""
    from receivers.syslog.receiver import SyslogReceiver

    return SyslogReceiver(settings, config, nexts)


FACTORY: ReceiverFactory[SyslogReceiverConfig] = ReceiverFactory(
    type="syslog",
    config_type=SyslogReceiverConfig,
    create=create_receiver,
    signals={Signal.LOGS: Stability.ALPHA},
)
