"""Owned DDL: numbered migrations `NNNN_name.sql`, rendered by `backend.clickhouse.schema`."""
