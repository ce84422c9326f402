-- airis migration 0003: 1-minute and 1-hour rollups of gauges, sums and histograms, kept by refreshable
-- materialized views.
--
-- Placeholders as in 0001_otel_tables.sql. Readers: backend/metrics/rollups.py, whose docstring says
-- what the columns mean and when a rollup answers a query instead of the raw table.
--
-- Why refreshable views and not insert-triggered ones: a view triggered by every insert writes one
-- more row per point per level (a series has one point per insert), which measured 2.4 times the
-- insert CPU end to end (bench/clickhouse_metrics_insert, bench/storage_e2e). A refreshable view
-- runs in the background instead: every minute the 1-minute view aggregates the raw points of the
-- minutes that closed at least 2 minutes ago (1 hour of them at most per run, so a backlog is
-- caught up bucket by bucket), and every 10 minutes the 1-hour view aggregates the closed hours of
-- the 1-minute rollup. A row holds a whole bucket, so the tables are ReplacingMergeTrees keyed by
-- series, run and bucket: a row computed twice (a retried refresh, two replicas of a cluster)
-- replaces itself, and readers read with FINAL.
--
-- Progress: each run appends a marker row (MetricName '', Bucket = the end of what it covered); the
-- next run starts there, skipping gaps without data. Points that arrive for a bucket behind the
-- marker (more than ~2 minutes late: a queue drained after an outage, a backfill) are not rolled up;
-- readers take raw points from the marker on. Runs start with the first point stored, so nothing
-- before that is missed.
--
-- Series: (ServiceName, MetricName, Attributes, ResourceAttributes). Points flagged NO_RECORDED_VALUE
-- (Flags bit 1: staleness markers) are left out, as readers of the raw tables do. Buckets start at
-- whole minutes / hours (UTC). Cumulative sums and histograms: Start is the point's StartTimeUnix,
-- so a run (the points since one start) never shares a row with another and a reset declared by a
-- new start stays exact; First and Last are the run's first and last point in the bucket. Delta
-- sums and histograms: Start is 0 (a delta point's start moves every time); readers use their
-- totals (Sum, Count, Totals).
--
-- Not rolled up: exponential histograms and summaries (read raw). Retention follows the backend's ttl.

CREATE TABLE IF NOT EXISTS {{table otel_metrics_gauge_1m}}{{on_cluster}} (
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
) ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, Bucket)
{{ttl Bucket}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

{{distributed otel_metrics_gauge_1m cityHash64(ServiceName, MetricName, Attributes)}};

CREATE TABLE IF NOT EXISTS {{table otel_metrics_gauge_1h}}{{on_cluster}} (
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
) ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, Bucket)
{{ttl Bucket}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

{{distributed otel_metrics_gauge_1h cityHash64(ServiceName, MetricName, Attributes)}};

CREATE TABLE IF NOT EXISTS {{table otel_metrics_sum_1m}}{{on_cluster}} (
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
) ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start)
{{ttl Bucket}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

{{distributed otel_metrics_sum_1m cityHash64(ServiceName, MetricName, Attributes)}};

CREATE TABLE IF NOT EXISTS {{table otel_metrics_sum_1h}}{{on_cluster}} (
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
) ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start)
{{ttl Bucket}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

{{distributed otel_metrics_sum_1h cityHash64(ServiceName, MetricName, Attributes)}};

-- Totals, First and Last: [count, sum, bucket 1, ..., bucket n+1] as Float64.
CREATE TABLE IF NOT EXISTS {{table otel_metrics_histogram_1m}}{{on_cluster}} (
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
) ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start)
{{ttl Bucket}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

{{distributed otel_metrics_histogram_1m cityHash64(ServiceName, MetricName, Attributes)}};

CREATE TABLE IF NOT EXISTS {{table otel_metrics_histogram_1h}}{{on_cluster}} (
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
) ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toDate(Bucket)
ORDER BY (MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start)
{{ttl Bucket}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

{{distributed otel_metrics_histogram_1h cityHash64(ServiceName, MetricName, Attributes)}};

-- The 1-minute views. `done`: where the last run stopped; `next`: the first point from there on
-- (1970 when none); a run covers [lo, hi) and appends its marker at hi.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{view otel_metrics_gauge_1m_mv}}{{on_cluster}}
REFRESH EVERY 1 MINUTE OFFSET 5 SECOND APPEND
TO {{table otel_metrics_gauge_1m}}
AS WITH
    (SELECT max(Bucket) FROM {{table otel_metrics_gauge_1m}} WHERE MetricName = '') AS done,
    toStartOfMinute(now() - INTERVAL 2 MINUTE, 'UTC') AS horizon,
    (SELECT min(TimeUnix) FROM {{table otel_metrics_gauge}} WHERE TimeUnix >= done AND TimeUnix < horizon) AS next,
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
FROM {{table otel_metrics_gauge}}
WHERE TimeUnix >= lo AND TimeUnix < hi AND bitAnd(Flags, 1) = 0
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, Bucket
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), hi, '', '', hi, hi, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view otel_metrics_sum_1m_mv}}{{on_cluster}}
REFRESH EVERY 1 MINUTE OFFSET 5 SECOND APPEND
TO {{table otel_metrics_sum_1m}}
AS WITH
    (SELECT max(Bucket) FROM {{table otel_metrics_sum_1m}} WHERE MetricName = '') AS done,
    toStartOfMinute(now() - INTERVAL 2 MINUTE, 'UTC') AS horizon,
    (SELECT min(TimeUnix) FROM {{table otel_metrics_sum}} WHERE TimeUnix >= done AND TimeUnix < horizon) AS next,
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
FROM {{table otel_metrics_sum}}
WHERE TimeUnix >= lo AND TimeUnix < hi AND bitAnd(Flags, 1) = 0
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, false, hi, toDateTime64(0, 9), '', '', hi, hi, 0, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view otel_metrics_histogram_1m_mv}}{{on_cluster}}
REFRESH EVERY 1 MINUTE OFFSET 5 SECOND APPEND
TO {{table otel_metrics_histogram_1m}}
AS WITH
    (SELECT max(Bucket) FROM {{table otel_metrics_histogram_1m}} WHERE MetricName = '') AS done,
    toStartOfMinute(now() - INTERVAL 2 MINUTE, 'UTC') AS horizon,
    (SELECT min(TimeUnix) FROM {{table otel_metrics_histogram}} WHERE TimeUnix >= done AND TimeUnix < horizon) AS next,
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
    FROM {{table otel_metrics_histogram}}
    WHERE TimeUnix >= lo AND TimeUnix < hi AND bitAnd(Flags, 1) = 0
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, CAST([], 'Array(Float64)'), hi, toDateTime64(0, 9), '', '', hi, hi, CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

-- The 1-hour views, from the closed hours of the 1-minute rollups.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{view otel_metrics_gauge_1h_mv}}{{on_cluster}}
REFRESH EVERY 10 MINUTE OFFSET 30 SECOND APPEND
TO {{table otel_metrics_gauge_1h}}
AS WITH
    (SELECT max(Bucket) FROM {{table otel_metrics_gauge_1h}} WHERE MetricName = '') AS done,
    (SELECT toStartOfHour(max(Bucket), 'UTC') FROM {{table otel_metrics_gauge_1m}} WHERE MetricName = '') AS horizon,
    (SELECT min(Bucket) FROM {{table otel_metrics_gauge_1m}} WHERE MetricName != '' AND Bucket >= done AND Bucket < horizon) AS next,
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
    -- renamed, since the aggregates above take these names
    SELECT MetricName, ServiceName, Attributes, ResourceAttributes, Bucket AS Minute, MetricUnit,
        MetricDescription, FirstTime AS MinuteFirst, LastTime AS MinuteLast, Min, Max, Sum, Count, Last
    FROM {{table otel_metrics_gauge_1m}} FINAL
    WHERE Bucket >= lo AND Bucket < hi AND MetricName != ''
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, Bucket
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), hi, '', '', hi, hi, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view otel_metrics_sum_1h_mv}}{{on_cluster}}
REFRESH EVERY 10 MINUTE OFFSET 30 SECOND APPEND
TO {{table otel_metrics_sum_1h}}
AS WITH
    (SELECT max(Bucket) FROM {{table otel_metrics_sum_1h}} WHERE MetricName = '') AS done,
    (SELECT toStartOfHour(max(Bucket), 'UTC') FROM {{table otel_metrics_sum_1m}} WHERE MetricName = '') AS horizon,
    (SELECT min(Bucket) FROM {{table otel_metrics_sum_1m}} WHERE MetricName != '' AND Bucket >= done AND Bucket < horizon) AS next,
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
    FROM {{table otel_metrics_sum_1m}} FINAL
    WHERE Bucket >= lo AND Bucket < hi AND MetricName != ''
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, IsMonotonic, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, false, hi, toDateTime64(0, 9), '', '', hi, hi, 0, 0, 0, 0, 0, 0, now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{view otel_metrics_histogram_1h_mv}}{{on_cluster}}
REFRESH EVERY 10 MINUTE OFFSET 30 SECOND APPEND
TO {{table otel_metrics_histogram_1h}}
AS WITH
    (SELECT max(Bucket) FROM {{table otel_metrics_histogram_1h}} WHERE MetricName = '') AS done,
    (SELECT toStartOfHour(max(Bucket), 'UTC') FROM {{table otel_metrics_histogram_1m}} WHERE MetricName = '') AS horizon,
    (SELECT min(Bucket) FROM {{table otel_metrics_histogram_1m}} WHERE MetricName != '' AND Bucket >= done AND Bucket < horizon) AS next,
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
    FROM {{table otel_metrics_histogram_1m}} FINAL
    WHERE Bucket >= lo AND Bucket < hi AND MetricName != ''
)
GROUP BY MetricName, ServiceName, Attributes, ResourceAttributes, AggregationTemporality, ExplicitBounds, Bucket, Start
UNION ALL
SELECT '', '', CAST(map(), 'Map(LowCardinality(String), String)'), CAST(map(), 'Map(LowCardinality(String), String)'), 0, CAST([], 'Array(Float64)'), hi, toDateTime64(0, 9), '', '', hi, hi, CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), CAST([], 'Array(Float64)'), now64(3)
WHERE pending OR toUnixTimestamp(done) > 0;
