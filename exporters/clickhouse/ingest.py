"""A serialized OTLP request in, table rows out, all inside ClickHouse (chDB or a server).

Each `ProtobufIngest` owns two objects next to its target table: a `Null`-engine table that reads one
request in the `ProtobufSingle` format, and a materialized view that explodes it (ARRAY JOIN) into
the target's columns. An insert is then one `raw_insert` of the request's bytes: no row is built in
Python, and chDB decodes and maps with the GIL released. Both names carry a digest of the schema and
the SELECT, so a changed mapping gets new objects instead of altering old ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporters.clickhouse.otlp_sql import Spec, input_structure, proto_schema

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor

    from backend.clickhouse.backend import ClickHouseBackend

__all__ = ["ProtobufIngest", "ingest_for"]

_INGESTS: weakref.WeakKeyDictionary[ClickHouseBackend, dict[str, ProtobufIngest]] = (
    weakref.WeakKeyDictionary()
)


def ingest_for(backend: ClickHouseBackend, key: str, make: Callable[[], ProtobufIngest]) -> ProtobufIngest:
    """The ingest `key` of `backend`, made on first use (one per backend and target, shared by exporters)."""
    ingests = _INGESTS.setdefault(backend, {})
    if key not in ingests:
        ingests[key] = make()
    return ingests[key]


class ProtobufIngest:
    """Inserts serialized requests of one type into one table of one backend, through a Null table and a view."""

    def __init__(
        self,
        request: Descriptor,
        spec: Spec,
        target: str,
        select: Callable[[str, frozenset[str]], str],
    ) -> None:
        """`select(source, target_columns)` is the view's SELECT reading the quoted `source` table."""
        self.schema = proto_schema(request, spec)
        self.structure = input_structure(request, spec)
        self.target = target
        self.select = select
        self.settings: dict[str, object] = {
            "format_schema": self.schema,
            "format_schema_source": "string",
            "format_schema_message_name": "Root",
            # The views' attribute rendering is a multiIf over members of one nested AnyValue tuple;
            # short-circuit evaluation filters and expands that whole tuple column for every lazy
            # branch, which cost ~5x the rendering itself. Every branch is safe to evaluate for all
            # rows (no function in them can throw), so evaluating them all is only faster.
            "short_circuit_function_evaluation": "disable",
        }
        self._source: str | None = None  # the Null table, once it and the view exist
        self._lock = asyncio.Lock()

    def names(self, select: str) -> tuple[str, str]:
        """The (Null table, view) names for a given SELECT text."""
        digest = hashlib.sha256((self.schema + select).encode()).hexdigest()[:12]
        return f"{self.target}_otlp_in_{digest}", f"{self.target}_otlp_mv_{digest}"

    async def prepare(self, backend: ClickHouseBackend) -> str:
        """Create the Null table and the view in `backend` unless done; the Null table's name."""
        async with self._lock:
            columns = await self._target_columns(backend)
            select = self.select("{source}", columns)
            source, view = self.names(select)
            if self._source is None:
                await backend.command(
                    f"CREATE TABLE IF NOT EXISTS {backend.table(source)} ({self.structure}) ENGINE = Null"
                )
                await backend.command(
                    f"CREATE MATERIALIZED VIEW IF NOT EXISTS {backend.table(view)} "
                    f"TO {backend.table(self.target)} AS " + select.replace("{source}", backend.table(source))
                )
                self._source = source
            return source

    async def _target_columns(self, backend: ClickHouseBackend) -> frozenset[str]:
        rows = await backend.query_rows(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            parameters={"db": backend.database, "t": self.target},
        )
        if not rows:
            raise LookupError(f"table {backend.table(self.target)} does not exist")
        return frozenset(str(row[0]) for row in rows)

    async def write(self, backend: ClickHouseBackend, data: bytes) -> None:
        """Insert one serialized request (its rows reach the target through the view)."""
        source = self._source or await self.prepare(backend)
        await backend.raw_insert(source, data, "ProtobufSingle", settings=self.settings)

    def forget(self) -> None:
        """Check the objects again before the next insert (after a failure: the target may have changed)."""
        self._source = None
