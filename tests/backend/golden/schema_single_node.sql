CREATE DATABASE IF NOT EXISTS `otel`;

CREATE TABLE IF NOT EXISTS `otel`.`airis_schema_versions` (
    version UInt32,
    name String,
    applied_at DateTime64(3)
) ENGINE = ReplacingMergeTree()
ORDER BY version;

CREATE TABLE IF NOT EXISTS `otel`.`otel_traces` (
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
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
TTL toDateTime(Timestamp) + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_traces_trace_id_ts` (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
TTL toDateTime(Start) + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_traces_trace_id_ts_mv`
TO `otel`.`otel_traces_trace_id_ts`
AS SELECT
    TraceId,
    min(Timestamp) as Start,
    max(Timestamp) as End
FROM `otel`.`otel_traces`
WHERE TraceId != ''
GROUP BY TraceId;

CREATE TABLE IF NOT EXISTS `otel`.`otel_logs` (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree()
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
TTL TimestampTime + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_gauge` (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
TTL toDateTime(TimeUnix) + toIntervalDay(3)
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_sum` (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
TTL toDateTime(TimeUnix) + toIntervalDay(3)
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_histogram` (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
TTL toDateTime(TimeUnix) + toIntervalDay(3)
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_exponential_histogram` (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
TTL toDateTime(TimeUnix) + toIntervalDay(3)
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_summary` (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree()
TTL toDateTime(TimeUnix) + toIntervalDay(3)
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

INSERT INTO `otel`.`airis_schema_versions` (version, name, applied_at)
VALUES (1, 'otel_tables', now64(3));

CREATE TABLE IF NOT EXISTS `otel`.`airis_traces_by_id` (
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
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY TraceId
TTL toDateTime(Timestamp) + toIntervalDay(3)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 1000000000000,
    min_rows_for_wide_part = 1000000000000, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`airis_traces_by_id_mv`
TO `otel`.`airis_traces_by_id`
AS SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`,
    `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`
FROM `otel`.`otel_traces`;

INSERT INTO `otel`.`airis_schema_versions` (version, name, applied_at)
VALUES (2, 'traces_by_id', now64(3));

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_gauge_1m` (
    MetricName String,
    ServiceName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    ResourceAttributes Map(LowCardinality(String), String),
    Bucket DateTime CODEC(Delta, LZ4),
    MetricUnit String,
    MetricDescription String,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Min Float64,
    Max Float64,
    Sum Float64,
    Count UInt64,
    Last Float64,
    Computed DateTime64(3)
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, Bucket)
TTL Bucket + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_gauge_1h` (
    MetricName String,
    ServiceName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    ResourceAttributes Map(LowCardinality(String), String),
    Bucket DateTime CODEC(Delta, LZ4),
    MetricUnit String,
    MetricDescription String,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Min Float64,
    Max Float64,
    Sum Float64,
    Count UInt64,
    Last Float64,
    Computed DateTime64(3)
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, Bucket)
TTL Bucket + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_sum_1m` (
    MetricName String,
    ServiceName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    ResourceAttributes Map(LowCardinality(String), String),
    AggregationTemporality Int32,
    IsMonotonic Bool,
    Bucket DateTime CODEC(Delta, LZ4),
    Start DateTime64(9),
    MetricUnit String,
    MetricDescription String,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Min Float64,
    Max Float64,
    Sum Float64,
    Count UInt64,
    First Float64,
    Last Float64,
    Computed DateTime64(3)
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start)
TTL Bucket + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_sum_1h` (
    MetricName String,
    ServiceName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    ResourceAttributes Map(LowCardinality(String), String),
    AggregationTemporality Int32,
    IsMonotonic Bool,
    Bucket DateTime CODEC(Delta, LZ4),
    Start DateTime64(9),
    MetricUnit String,
    MetricDescription String,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Min Float64,
    Max Float64,
    Sum Float64,
    Count UInt64,
    First Float64,
    Last Float64,
    Computed DateTime64(3)
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start)
TTL Bucket + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_histogram_1m` (
    MetricName String,
    ServiceName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    ResourceAttributes Map(LowCardinality(String), String),
    AggregationTemporality Int32,
    ExplicitBounds Array(Float64),
    Bucket DateTime CODEC(Delta, LZ4),
    Start DateTime64(9),
    MetricUnit String,
    MetricDescription String,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Totals Array(Float64),
    First Array(Float64),
    Last Array(Float64),
    Computed DateTime64(3)
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start)
TTL Bucket + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.`otel_metrics_histogram_1h` (
    MetricName String,
    ServiceName LowCardinality(String),
    Attributes Map(LowCardinality(String), String),
    ResourceAttributes Map(LowCardinality(String), String),
    AggregationTemporality Int32,
    ExplicitBounds Array(Float64),
    Bucket DateTime CODEC(Delta, LZ4),
    Start DateTime64(9),
    MetricUnit String,
    MetricDescription String,
    FirstTime DateTime64(9),
    LastTime DateTime64(9),
    Totals Array(Float64),
    First Array(Float64),
    Last Array(Float64),
    Computed DateTime64(3)
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start)
TTL Bucket + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_metrics_gauge_1m_mv`
REFRESH EVERY 1 MINUTE OFFSET 5 SECOND APPEND
TO `otel`.`otel_metrics_gauge_1m`
AS WITH
    (SELECT max(Bucket) FROM `otel`.`otel_metrics_gauge_1m` WHERE MetricName = '') AS done,
    toStartOfMinute(now() - INTERVAL 2 MINUTE, 'UTC') AS horizon,
    (SELECT min(TimeUnix) FROM `otel`.`otel_metrics_gauge` WHERE TimeUnix >= done AND TimeUnix < horizon) AS next,
    toUnixTimestamp64Nano(next) > 0 AS pending,
    if(pending, greatest(done, toStartOfMinute(next, 'UTC')), done) AS lo,
    if(pending, least(horizon, lo + INTERVAL 1 HOUR), horizon) AS hi
SELECT
    MetricName, ServiceName, Attributes, ResourceAttributes,
    toStartOfMinute(TimeUnix, 'UTC') AS Bucket,
    any(MetricUnit) AS MetricUnit, any(MetricDescription) AS MetricDescription,
    min(TimeUnix) AS FirstTime, max(TimeUnix) AS LastTime,
    min(Value) AS Min, max(Value) AS Max, sum(Value) AS Sum, count() AS Count,
    argMax(Value, TimeUnix) AS Last, now64(3) AS Computed
FROM `otel`.`otel_metrics_gauge`
WHERE TimeUnix >= lo AND TimeUnix < hi AND bitAnd(Flags, 1) = 0
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, Bucket
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), hi, '', '', hi, hi, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_metrics_sum_1m_mv`
REFRESH EVERY 1 MINUTE OFFSET 5 SECOND APPEND
TO `otel`.`otel_metrics_sum_1m`
AS WITH
    (SELECT max(Bucket) FROM `otel`.`otel_metrics_sum_1m` WHERE MetricName = '') AS done,
    toStartOfMinute(now() - INTERVAL 2 MINUTE, 'UTC') AS horizon,
    (SELECT min(TimeUnix) FROM `otel`.`otel_metrics_sum` WHERE TimeUnix >= done AND TimeUnix < horizon) AS next,
    toUnixTimestamp64Nano(next) > 0 AS pending,
    if(pending, greatest(done, toStartOfMinute(next, 'UTC')), done) AS lo,
    if(pending, least(horizon, lo + INTERVAL 1 HOUR), horizon) AS hi
SELECT
    MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic,
    toStartOfMinute(TimeUnix, 'UTC') AS Bucket,
    if(AggregationTemporality = 2, StartTimeUnix, toDateTime64(0, 9)) AS Start,
    any(MetricUnit) AS MetricUnit, any(MetricDescription) AS MetricDescription,
    min(TimeUnix) AS FirstTime, max(TimeUnix) AS LastTime,
    min(Value) AS Min, max(Value) AS Max, sum(Value) AS Sum, count() AS Count,
    argMin(Value, TimeUnix) AS First, argMax(Value, TimeUnix) AS Last, now64(3) AS Computed
FROM `otel`.`otel_metrics_sum`
WHERE TimeUnix >= lo AND TimeUnix < hi AND bitAnd(Flags, 1) = 0
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, false, hi, toDateTime64(0, 9), '', '', hi, hi, 0, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_metrics_histogram_1m_mv`
REFRESH EVERY 1 MINUTE OFFSET 5 SECOND APPEND
TO `otel`.`otel_metrics_histogram_1m`
AS WITH
    (SELECT max(Bucket) FROM `otel`.`otel_metrics_histogram_1m` WHERE MetricName = '') AS done,
    toStartOfMinute(now() - INTERVAL 2 MINUTE, 'UTC') AS horizon,
    (SELECT min(TimeUnix) FROM `otel`.`otel_metrics_histogram` WHERE TimeUnix >= done AND TimeUnix < horizon) AS next,
    toUnixTimestamp64Nano(next) > 0 AS pending,
    if(pending, greatest(done, toStartOfMinute(next, 'UTC')), done) AS lo,
    if(pending, least(horizon, lo + INTERVAL 1 HOUR), horizon) AS hi
SELECT
    MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds,
    toStartOfMinute(TimeUnix, 'UTC') AS Bucket,
    if(AggregationTemporality = 2, StartTimeUnix, toDateTime64(0, 9)) AS Start,
    any(MetricUnit) AS MetricUnit, any(MetricDescription) AS MetricDescription,
    min(TimeUnix) AS FirstTime, max(TimeUnix) AS LastTime,
    sumForEach(Point) AS Totals, argMin(Point, TimeUnix) AS First, argMax(Point, TimeUnix) AS Last,
    now64(3) AS Computed
FROM (
    SELECT *, arrayConcat([toFloat64(Count), Sum], arrayMap(x -> toFloat64(x), BucketCounts)) AS Point
    FROM `otel`.`otel_metrics_histogram`
    WHERE TimeUnix >= lo AND TimeUnix < hi AND bitAnd(Flags, 1) = 0
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, CAST([], 'Array(Float64)'), hi, toDateTime64(0, 9), '', '', hi, hi, CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_metrics_gauge_1h_mv`
REFRESH EVERY 10 MINUTE OFFSET 30 SECOND APPEND
TO `otel`.`otel_metrics_gauge_1h`
AS WITH
    (SELECT max(Bucket) FROM `otel`.`otel_metrics_gauge_1h` WHERE MetricName = '') AS done,
    (SELECT toStartOfHour(max(Bucket), 'UTC') FROM `otel`.`otel_metrics_gauge_1m` WHERE MetricName = '') AS horizon,
    (SELECT min(Bucket) FROM `otel`.`otel_metrics_gauge_1m` WHERE MetricName != '' AND Bucket >= done AND Bucket < horizon) AS next,
    toUnixTimestamp(next) > 0 AS pending,
    if(pending, greatest(done, toStartOfHour(next, 'UTC')), done) AS lo,
    if(pending, least(horizon, lo + INTERVAL 1 DAY), horizon) AS hi
SELECT
    MetricName, ServiceName, Attributes, ResourceAttributes,
    toStartOfHour(Minute, 'UTC') AS Bucket,
    any(MetricUnit) AS MetricUnit, any(MetricDescription) AS MetricDescription,
    min(MinuteFirst) AS FirstTime, max(MinuteLast) AS LastTime,
    min(Min) AS Min, max(Max) AS Max, sum(Sum) AS Sum, sum(Count) AS Count,
    argMax(Last, MinuteLast) AS Last, now64(3) AS Computed
FROM (
    SELECT MetricName, ServiceName, Attributes, ResourceAttributes, Bucket AS Minute, MetricUnit,
        MetricDescription, FirstTime AS MinuteFirst, LastTime AS MinuteLast, Min, Max, Sum, Count, Last
    FROM `otel`.`otel_metrics_gauge_1m` FINAL
    WHERE Bucket >= lo AND Bucket < hi AND MetricName != ''
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, Bucket
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), hi, '', '', hi, hi, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_metrics_sum_1h_mv`
REFRESH EVERY 10 MINUTE OFFSET 30 SECOND APPEND
TO `otel`.`otel_metrics_sum_1h`
AS WITH
    (SELECT max(Bucket) FROM `otel`.`otel_metrics_sum_1h` WHERE MetricName = '') AS done,
    (SELECT toStartOfHour(max(Bucket), 'UTC') FROM `otel`.`otel_metrics_sum_1m` WHERE MetricName = '') AS horizon,
    (SELECT min(Bucket) FROM `otel`.`otel_metrics_sum_1m` WHERE MetricName != '' AND Bucket >= done AND Bucket < horizon) AS next,
    toUnixTimestamp(next) > 0 AS pending,
    if(pending, greatest(done, toStartOfHour(next, 'UTC')), done) AS lo,
    if(pending, least(horizon, lo + INTERVAL 1 DAY), horizon) AS hi
SELECT
    MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic,
    toStartOfHour(Minute, 'UTC') AS Bucket, Start,
    any(MetricUnit) AS MetricUnit, any(MetricDescription) AS MetricDescription,
    min(MinuteFirst) AS FirstTime, max(MinuteLast) AS LastTime,
    min(Min) AS Min, max(Max) AS Max, sum(Sum) AS Sum, sum(Count) AS Count,
    argMin(First, MinuteFirst) AS First, argMax(Last, MinuteLast) AS Last, now64(3) AS Computed
FROM (
    SELECT MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic,
        Bucket AS Minute, Start, MetricUnit, MetricDescription, FirstTime AS MinuteFirst,
        LastTime AS MinuteLast, Min, Max, Sum, Count, First, Last
    FROM `otel`.`otel_metrics_sum_1m` FINAL
    WHERE Bucket >= lo AND Bucket < hi AND MetricName != ''
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, false, hi, toDateTime64(0, 9), '', '', hi, hi, 0, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`otel_metrics_histogram_1h_mv`
REFRESH EVERY 10 MINUTE OFFSET 30 SECOND APPEND
TO `otel`.`otel_metrics_histogram_1h`
AS WITH
    (SELECT max(Bucket) FROM `otel`.`otel_metrics_histogram_1h` WHERE MetricName = '') AS done,
    (SELECT toStartOfHour(max(Bucket), 'UTC') FROM `otel`.`otel_metrics_histogram_1m` WHERE MetricName = '') AS horizon,
    (SELECT min(Bucket) FROM `otel`.`otel_metrics_histogram_1m` WHERE MetricName != '' AND Bucket >= done AND Bucket < horizon) AS next,
    toUnixTimestamp(next) > 0 AS pending,
    if(pending, greatest(done, toStartOfHour(next, 'UTC')), done) AS lo,
    if(pending, least(horizon, lo + INTERVAL 1 DAY), horizon) AS hi
SELECT
    MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds,
    toStartOfHour(Minute, 'UTC') AS Bucket, Start,
    any(MetricUnit) AS MetricUnit, any(MetricDescription) AS MetricDescription,
    min(MinuteFirst) AS FirstTime, max(MinuteLast) AS LastTime,
    sumForEach(Totals) AS Totals, argMin(First, MinuteFirst) AS First, argMax(Last, MinuteLast) AS Last,
    now64(3) AS Computed
FROM (
    SELECT MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds,
        Bucket AS Minute, Start, MetricUnit, MetricDescription, FirstTime AS MinuteFirst,
        LastTime AS MinuteLast, Totals, First, Last
    FROM `otel`.`otel_metrics_histogram_1m` FINAL
    WHERE Bucket >= lo AND Bucket < hi AND MetricName != ''
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, CAST([], 'Array(Float64)'), hi, toDateTime64(0, 9), '', '', hi, hi, CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

INSERT INTO `otel`.`airis_schema_versions` (version, name, applied_at)
VALUES (3, 'metric_rollups', now64(3));

ALTER TABLE `otel`.`otel_logs`
    ADD INDEX IF NOT EXISTS idx_body_lower lower(Body) TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1;

ALTER TABLE `otel`.`otel_logs`
    ADD INDEX IF NOT EXISTS idx_timestamp Timestamp TYPE minmax GRANULARITY 1;

INSERT INTO `otel`.`airis_schema_versions` (version, name, applied_at)
VALUES (4, 'logs_search_indexes', now64(3));
