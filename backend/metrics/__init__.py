"""The metrics service (`metrics_service`): names, labels, range queries, PromQL and Prometheus's HTTP API."""
