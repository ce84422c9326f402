"""Sends batches into ClickHouse: resolves or opens the backend, dispatches by signal, classifies errors.

Errors: data ClickHouse cannot read (a malformed request) or a table whose columns do not fit the
mapping is a PermanentError (retrying cannot help); anything else (network, server busy or down,
a table missing for now, timeouts) is a RetryableError, so nothing is dropped on a passing outage.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from collector.component import ComponentId
from collector.errors import ConfigError, ConsumeError, PermanentError, Problem, RetryableError
from collector.pdata import MalformedData
from collector.signal import Signal
from exporters.clickhouse import logs, metrics, traces
from exporters.clickhouse.config import ClickHouseExporterConfig

if TYPE_CHECKING:
    from backend.clickhouse.backend import ClickHouseBackend
    from collector.component import Host, Settings
    from collector.pdata import Batch
    from exporters.clickhouse.ingest import ContainerFallback

__all__ = ["PERMANENT_CODES", "ClickHouseSender", "classify"]

PERMANENT_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        8,  # THERE_IS_NO_COLUMN (the target table lacks a mapped column)
        10,  # NOT_FOUND_COLUMN_IN_BLOCK
        16,  # NO_SUCH_COLUMN_IN_TABLE
        20,  # NUMBER_OF_COLUMNS_DOESNT_MATCH
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        33,  # CANNOT_READ_ALL_DATA (a truncated request)
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        70,  # CANNOT_CONVERT_TYPE
        117,  # INCORRECT_DATA
        434,  # CANNOT_PARSE_PROTOBUF_SCHEMA
        444,  # UNKNOWN_PROTOBUF_FORMAT
        570,  # DATA_TYPE_INCOMPATIBLE_WITH_PROTOBUF_FIELD
    }
)
"""ClickHouse error codes meaning the data or the table's schema is wrong: retrying cannot help."""
_CODE = re.compile(r"\bCode:\s*(\d+)")


def _error_code(err: BaseException) -> int | None:
    """The ClickHouse error code of `err` or of an exception it was raised from."""
    seen: BaseException | None = err
    while seen is not None:
        code = getattr(seen, "code", None)
        if isinstance(code, int):
            return code
        match = _CODE.search(str(seen))
        if match:
            return int(match.group(1))
        seen = seen.__cause__ or seen.__context__
    return None


def classify(err: BaseException, what: str) -> ConsumeError:
    """PermanentError for malformed data or a schema mismatch, RetryableError for everything else."""
    if isinstance(err, ConsumeError):
        return err
    if isinstance(err, MalformedData):
        return PermanentError(f"{what}: {err}")
    code = _error_code(err)
    if code in PERMANENT_CODES:
        return PermanentError(f"{what}: ClickHouse refused the data (code {code}): {err}")
    return RetryableError(f"{what}: {type(err).__name__}: {err}")


class ClickHouseSender:
    """One signal's writer into ClickHouse: `storage` names a shared backend, `endpoint` opens its own."""

    def __init__(self, settings: Settings, config: ClickHouseExporterConfig, signal: Signal) -> None:
        self.settings, self.config, self.signal = settings, config, signal
        self.label = f"exporter {settings.id} ({signal})"
        self.backend: ClickHouseBackend | None = None
        self._owned = False  # whether this sender opened the backend (and closes it)
        t = config.metrics_tables
        self.metrics_tables = metrics.MetricsTables(
            gauge=t.gauge.name,
            sum=t.sum.name,
            histogram=t.histogram.name,
            exponential_histogram=t.exponential_histogram.name,
            summary=t.summary.name,
        )

    async def start(self, host: Host) -> None:
        if self.config.storage:
            self.backend = self._shared_backend(host)
            return
        from backend.clickhouse.backend import ClickHouseBackend

        backend = ClickHouseBackend.from_config(str(self.settings.id), self.config.backend_config())
        await backend.start()
        self.backend, self._owned = backend, True

    def _shared_backend(self, host: Host) -> ClickHouseBackend:
        key = f"exporters::{self.settings.id}::storage"
        try:
            extension: Any = host.extension(ComponentId.parse(self.config.storage_extension))
        except (KeyError, ValueError) as err:
            raise ConfigError(
                [
                    Problem(
                        key,
                        f"no extension {self.config.storage_extension!r} is running ({err}); "
                        "add it to service::extensions",
                    )
                ]
            ) from None
        if not hasattr(extension, "backend"):
            raise ConfigError(
                [Problem(key, f"extension {self.config.storage_extension!r} is not a clickhouse_storage")]
            )
        try:
            backend: ClickHouseBackend = extension.backend(self.config.storage)
        except KeyError as err:
            raise ConfigError([Problem(key, str(err.args[0]) if err.args else str(err))]) from None
        return backend

    async def shutdown(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None and self._owned:
            await backend.close()

    async def send(self, batch: Batch, timeout: float) -> None:  # noqa: ASYNC109 (the helper enforces it)
        backend = self.backend
        if backend is None:
            raise RetryableError(f"{self.label} is not started")
        try:
            if len(batch):
                await self._ingest(backend).write(backend, batch.otlp_bytes(), len(batch))
        except Exception as err:
            self._ingest(backend).forget()  # check the Null table and views again on the next attempt
            raise classify(err, f"{self.label}: insert failed") from err

    def _ingest(self, backend: ClickHouseBackend) -> ContainerFallback:
        """This signal's ingest path into its table(s) of `backend` (made once, shared)."""
        if self.signal is Signal.TRACES:
            return traces.ingest(backend, self.config.traces_table_name)
        if self.signal is Signal.LOGS:
            return logs.ingest(backend, self.config.logs_table_name)
        return metrics.ingest(backend, self.metrics_tables)
