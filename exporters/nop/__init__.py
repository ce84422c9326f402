"""The `nop` exporter: accepts and drops everything."""
