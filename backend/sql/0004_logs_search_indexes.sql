-- airis migration 0004: skip indexes for the log service's searches on otel_logs.
--
-- idx_body_lower: the log service matches search words ignoring case with hasToken(lower(Body), word);
-- this token bloom filter on lower(Body) lets those searches skip granules. One 8 KiB filter per
-- granule (8,192 rows, ~1 B/record), where contrib's idx_body keeps 32 KiB per 8 granules: a word in
-- a few dozen records spread over the data then skips most granules instead of almost none (bench:
-- a user id in ~45 of 1 M records, 35 of 129 granules read instead of 120 of 132).
-- idx_timestamp: newest-first searches sort by Timestamp, which the primary key sorts only within a
-- service; with each granule's Timestamp range ClickHouse's top-K filter skips whole granules older
-- than the newest rows found so far.
-- Parts written before this migration lack both and are read whole by those searches until TTL drops
-- them, or until `ALTER TABLE otel_logs MATERIALIZE INDEX <name>` builds them (a mutation).
ALTER TABLE {{table otel_logs}}{{on_cluster}}
    ADD INDEX IF NOT EXISTS idx_body_lower lower(Body) TYPE tokenbf_v1(8192, 3, 0) GRANULARITY 1;

ALTER TABLE {{table otel_logs}}{{on_cluster}}
    ADD INDEX IF NOT EXISTS idx_timestamp Timestamp TYPE minmax GRANULARITY 1;
