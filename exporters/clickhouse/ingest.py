"""A serialized OTLP request in, table rows out, all inside ClickHouse (chDB or a server).

Each `ProtobufIngest` owns a `Null`-engine table that reads one request in the `ProtobufSingle`
format, and one materialized view per target table that explodes it (ARRAY JOIN) into the target's
columns. With several targets (metrics: five tables), a `Relay` Null table can sit in between: one
view maps the request into the union of the targets' columns, and each target's view only picks
its rows, so the heavy mapping is analysed once per insert, not once per target. An insert is then
one `raw_insert` of the request's bytes: no row is built in Python, and chDB decodes and maps with
the GIL released. The names carry a digest of the schema and the SELECTs (and of the targets when
there are several), so a changed mapping gets new objects instead of altering old ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NamedTuple

from exporters.clickhouse.any_value_bytes import CONTAINERS_REFUSED
from exporters.clickhouse.otlp_sql import Spec, input_structure, proto_schema

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor

    from backend.clickhouse.backend import ClickHouseBackend

__all__ = [
    "MAX_ITEMS",
    "ContainerFallback",
    "Names",
    "ProtobufIngest",
    "Relay",
    "Select",
    "ingest_for",
    "table_ingest",
]

MAX_ITEMS: Final = 1 << 20
"""Items (rows) of the largest request taken in one block; a larger one goes to the full ingest."""
STICKY: Final = 64
"""Requests sent straight to the full ingest after a refusal (a source with container values keeps sending them)."""

Select = Callable[[str, frozenset[str]], str]
"""`select(source, target_columns)`: a view's SELECT reading the quoted table `source`."""

_INGESTS: weakref.WeakKeyDictionary[ClickHouseBackend, dict[str, ContainerFallback]] = (
    weakref.WeakKeyDictionary()
)


def ingest_for(
    backend: ClickHouseBackend, key: str, make: Callable[[], ContainerFallback]
) -> ContainerFallback:
    """The ingest `key` of `backend`, made on first use (one per backend and target, shared by exporters)."""
    ingests = _INGESTS.setdefault(backend, {})
    if key not in ingests:
        ingests[key] = make()
    return ingests[key]


def table_ingest(
    backend: ClickHouseBackend,
    table: str,
    request: Descriptor,
    spec: Spec,
    select: Callable[[str, frozenset[str], bool], str],
) -> ContainerFallback:
    """The ingest of `request`s into the one table `table` (made once per backend and table).

    `select(source, target_columns, containers)` is the view's SELECT, with or without the containers' SQL.
    """

    def make(containers: bool) -> ProtobufIngest:
        return ProtobufIngest(
            request, spec, table, lambda source, columns: select(source, columns, containers)
        )

    return ingest_for(backend, table, lambda: ContainerFallback(make))


class Names(NamedTuple):
    """The names of an ingest's objects (the digest of its mapping at their end)."""

    source: str
    """The Null table the requests are inserted into."""
    views: dict[str, str]
    """Each target table's view."""
    relay: str
    """The relay Null table ('' without a relay)."""
    relay_view: str
    """The view filling the relay table ('' without a relay)."""


@dataclass(frozen=True, slots=True)
class Relay:
    """A Null table between the input table and the targets' views, filled from the input by one view.

    The heavy mapping then runs once per insert instead of once per target (every view's query is
    analysed on every insert): the targets' views only pick their rows and columns from the relay.
    """

    select: Select
    """The relay view's SELECT reading the input table; its columns are the relay table's."""
    settings: Mapping[str, object] = field(default_factory=dict)
    """Insert settings its SELECT needs."""


class ProtobufIngest:
    """Inserts serialized requests of one type into one or more tables of one backend, through a Null table and views."""

    def __init__(
        self,
        request: Descriptor,
        spec: Spec,
        name: str,
        views: Select | Mapping[str, Select],
        relay: Relay | None = None,
    ) -> None:
        """`views` maps each target table to its view's SELECT; a lone SELECT targets the table `name`.

        `name` also starts the Null tables' names. The views read the input table, or `relay`'s.
        """
        self.schema = proto_schema(request, spec)
        self.structure = input_structure(request, spec)
        self.name = name
        self.views: dict[str, Select] = dict(views) if isinstance(views, Mapping) else {name: views}
        self.relay = relay
        self.settings: dict[str, object] = {
            "format_schema": self.schema,
            "format_schema_source": "string",
            "format_schema_message_name": "Root",
            # A request's rows in one block: a refused request (see ContainerFallback) writes no row.
            "max_block_size": MAX_ITEMS,
            **(relay.settings if relay else {}),  # the relay's own settings win
        }
        self._source: str | None = None  # the Null table, once it and the views exist
        self._lock = asyncio.Lock()

    def names(self, selects: Mapping[str, str], relay: str = "") -> Names:
        """The objects' names for given SELECT texts by target (and the relay's SELECT, if any)."""
        targets = "" if list(selects) == [self.name] and not relay else "\n".join(selects) + "\n"
        text = self.schema + targets + "".join(selects.values()) + relay
        d = hashlib.sha256(text.encode()).hexdigest()[:12]
        return Names(
            source=f"{self.name}_otlp_in_{d}",
            views={t: f"{t}_otlp_mv_{d}" for t in selects},
            relay=f"{self.name}_otlp_relay_{d}" if relay else "",
            relay_view=f"{self.name}_otlp_relay_mv_{d}" if relay else "",
        )

    async def prepare(self, backend: ClickHouseBackend) -> str:
        """Create the Null tables and the views in `backend` unless done; the input table's name."""
        async with self._lock:
            if self._source is not None:
                return self._source
            selects = {
                target: select("{source}", await self._target_columns(backend, target))
                for target, select in self.views.items()
            }
            relay = self.relay.select("{source}", frozenset()) if self.relay else ""
            names = self.names(selects, relay)
            source = backend.table(names.source)
            await backend.command(f"CREATE TABLE IF NOT EXISTS {source} ({self.structure}) ENGINE = Null")
            if relay:
                # The relay table takes its columns from its SELECT (run here on the empty input).
                relay = relay.replace("{source}", source)
                await backend.command(
                    f"CREATE TABLE IF NOT EXISTS {backend.table(names.relay)} ENGINE = Null AS {relay}"
                )
            read = backend.table(names.relay or names.source)
            for target, select in selects.items():
                await backend.command(
                    f"CREATE MATERIALIZED VIEW IF NOT EXISTS {backend.table(names.views[target])} "
                    f"TO {backend.table(target)} AS " + select.replace("{source}", read)
                )
            if relay:  # last: rows reach the relay table once its views exist
                await backend.command(
                    f"CREATE MATERIALIZED VIEW IF NOT EXISTS {backend.table(names.relay_view)} "
                    f"TO {backend.table(names.relay)} AS {relay}"
                )
            self._source = names.source
            return names.source

    @staticmethod
    async def _target_columns(backend: ClickHouseBackend, target: str) -> frozenset[str]:
        rows = await backend.query_rows(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            parameters={"db": backend.database, "t": target},
        )
        if not rows:
            raise LookupError(f"table {backend.table(target)} does not exist")
        return frozenset(str(row[0]) for row in rows)

    async def write(self, backend: ClickHouseBackend, data: bytes) -> None:
        """Insert one serialized request (its rows reach the targets through the views)."""
        source = self._source or await self.prepare(backend)
        await backend.raw_insert(source, data, "ProtobufSingle", settings=self.settings)

    def forget(self) -> None:
        """Check the objects again before the next insert (after a failure: the target may have changed)."""
        self._source = None


class ContainerFallback:
    """One mapping as two ingests: the cheap one leaves out the SQL of array and kvlist values, the full one has it.

    A request goes to the cheap ingest, which refuses one holding a container value before it
    writes a row (one block); the full ingest then takes it, and the next `STICKY` requests too.
    """

    def __init__(self, make: Callable[[bool], ProtobufIngest]) -> None:
        """`make(containers)` builds the ingest with or without the containers' SQL."""
        self.cheap, self.full = make(False), make(True)
        self._full_for = 0

    async def write(self, backend: ClickHouseBackend, data: bytes, items: int) -> None:
        """Insert one serialized request of `items` items (rows)."""
        if self._full_for:
            self._full_for -= 1
        elif items <= MAX_ITEMS:
            try:
                await self.cheap.write(backend, data)
                return
            except Exception as err:
                if not _refused_for_containers(err):
                    raise
                self._full_for = STICKY
        await self.full.write(backend, data)

    def forget(self) -> None:
        """Check both ingests' objects again before the next insert."""
        self.cheap.forget()
        self.full.forget()


def _refused_for_containers(err: BaseException) -> bool:
    """Whether `err` (or an error it comes from) is the cheap ingest's refusal of a container value."""
    seen: BaseException | None = err
    while seen is not None:
        if CONTAINERS_REFUSED in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
