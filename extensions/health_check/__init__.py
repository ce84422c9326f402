"""The `health_check` extension: an HTTP endpoint that says whether the pipelines are running."""
