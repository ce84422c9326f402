"""The log service (`logs_service`): full-text search, facets, histograms and live tail over otel_logs."""
