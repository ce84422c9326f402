"""The `clickhouse_storage` extension: starts its named backends; exporters and services look them up."""

from __future__ import annotations

from collections.abc import Mapping

from backend.clickhouse.backend import ClickHouseBackend
from backend.clickhouse.config import ClickHouseStorageConfig
from collector.component import ComponentId, Host, Settings


class ClickHouseStorage:
    """Holds one `ClickHouseBackend` per configured name (Jaeger v2's storage extension pattern)."""

    def __init__(self, settings: Settings, config: ClickHouseStorageConfig) -> None:
        self.settings = settings
        self.config = config
        self.backends: dict[str, ClickHouseBackend] = {
            name: ClickHouseBackend.from_config(name, backend) for name, backend in config.backends.items()
        }

    def backend(self, name: str) -> ClickHouseBackend:
        """The backend `name`; KeyError listing the defined names if there is none."""
        try:
            return self.backends[name]
        except KeyError:
            defined = ", ".join(sorted(self.backends)) or "none"
            raise KeyError(
                f"extension {self.settings.id} has no backend {name!r} (defined: {defined})"
            ) from None

    async def start(self, host: Host) -> None:
        started: list[ClickHouseBackend] = []
        try:
            for backend in self.backends.values():
                await backend.start()
                started.append(backend)
                self.settings.logger.info(
                    "clickhouse backend %r ready: %s, database %s",
                    backend.name,
                    backend.config.endpoint,
                    backend.database,
                )
        except BaseException:
            for backend in reversed(started):
                await backend.close()
            raise

    async def shutdown(self) -> None:
        for backend in reversed(list(self.backends.values())):
            await backend.close()


def find_backend(host: Host, name: str) -> ClickHouseBackend:
    """The backend `name` of the started `clickhouse_storage` extension(s) of `host`.

    KeyError naming every defined backend when none is called `name`.
    """
    return backend_in(host.extensions(), name)


def backend_in(extensions: Mapping[ComponentId, object], name: str) -> ClickHouseBackend:
    """The backend `name` among the `ClickHouseStorage` extensions in `extensions`."""
    defined: list[str] = []
    for id, extension in extensions.items():
        if isinstance(extension, ClickHouseStorage):
            if name in extension.backends:
                return extension.backends[name]
            defined.extend(f"{n} (in {id})" for n in extension.backends)
    listed = (
        ", ".join(defined) if defined else "none: add a clickhouse_storage extension to service.extensions"
    )
    raise KeyError(f"no clickhouse_storage backend named {name!r} (defined: {listed})")
