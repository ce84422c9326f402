"""The `batch` processor: merges small batches into bigger ones, sent on size or timeout."""
