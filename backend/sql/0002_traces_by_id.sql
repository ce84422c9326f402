-- airis migration 0002: a copy of otel_traces ordered by trace id, for trace by id (the trace service).
--
-- Placeholders as in 0001_otel_tables.sql. otel_traces is ordered by (ServiceName, SpanName, time),
-- so a trace's spans sit in as many 8,192-row granules as it has spans, each read whole to find
-- them (78-90 ms per trace at 1 M spans); here a trace is a few adjacent rows of one 1,024-row
-- granule (12 ms p50, 19.5 ms p99 at 1 M: bench/query_traces.py). Same columns, types and codecs
-- as otel_traces (the trace service reads both with one query text), no skip indexes, same
-- partitioning and TTL; parts stay in the compact format (all columns in one file, a granule's
-- columns side by side) at every size, cheaper to write than wide parts for the same reads.
-- The cost: ~84 B per span on disk (otel_traces: ~91), and ~40 % more ClickHouse CPU per insert,
-- merges included (-14 % to -38 % spans/s per agent core in bench.storage_e2e A/B runs on a shared
-- 2-core machine). Without the view the table stays empty and the trace service reads otel_traces.
--
-- The view copies every span as it is inserted into (the shard-local) otel_traces; spans stored
-- before this migration stay in otel_traces only, where the trace service still finds them.
-- Readers: backend/traces/reader.py.

CREATE TABLE IF NOT EXISTS {{table airis_traces_by_id}}{{on_cluster}} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1))
) ENGINE = {{engine MergeTree}}
PARTITION BY toDate(Timestamp)
ORDER BY TraceId
{{ttl toDateTime(Timestamp)}}
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 1000000000000,
    min_rows_for_wide_part = 1000000000000, ttl_only_drop_parts = 1;

{{distributed airis_traces_by_id cityHash64(TraceId)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view airis_traces_by_id_mv}}{{on_cluster}}
TO {{table airis_traces_by_id}}
AS SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`,
    `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
FROM {{table otel_traces}};
