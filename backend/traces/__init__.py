"""The trace service (`traces_service`): trace lookup and search, analytics, Jaeger's query APIs."""
