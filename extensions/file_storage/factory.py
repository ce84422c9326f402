"""Factory and config of the `file_storage` extension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from collector.component import Component, ExtensionFactory, Settings, Stability


@dataclass
class FileStorageConfig:
    """Where durable logs live (one subfolder per owner) and how hard they are pushed to disk."""

    # The collector's default is /var/lib/otelcol/file_storage; ours is relative to the working folder.
    directory: str = "./data/queue"
    # fsync every append (grouped across concurrent appends); false survives kill -9, not power loss.
    fsync: bool = True
    # Create `directory` (and its parents) at start if it is missing.
    create_directory: bool = True
    # How long start waits for another process to release the directory's lock.
    timeout: timedelta = timedelta(seconds=1)

    def validate(self) -> None:
        if not self.directory.strip():
            raise ValueError("directory must not be empty")
        if self.timeout < timedelta(0):
            raise ValueError(f"timeout {self.timeout} must not be negative")


def create_extension(settings: Settings, config: FileStorageConfig) -> Component:
    from extensions.file_storage.extension import FileStorage

    return FileStorage(settings, config)


FACTORY = ExtensionFactory(
    type="file_storage",
    config_type=FileStorageConfig,
    create=create_extension,
    stability=Stability.BETA,
)
