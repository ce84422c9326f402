"""The `forward` connector: hands data from the pipelines it exports for to those it receives for."""
