"""The `memory_limiter` processor: refuses data (retryably) while the process uses too much memory."""
