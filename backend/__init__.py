"""Backend: storage and query services over ClickHouse (later issues)."""
