"""The `clickhouse_storage` extension: named ClickHouse backends (chDB or a server) and the owned schema."""
