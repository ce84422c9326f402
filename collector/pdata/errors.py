"""Errors raised by pdata.

ValueError
 └── MalformedData   bytes that are not the signal's OTLP request, or an Arrow table that cannot
                     be turned into one (wrong id width, unknown value type, ...)
"""

__all__ = ["MalformedData"]


class MalformedData(ValueError):  # noqa: N818 (the name the pipeline contract uses)
    """Telemetry that cannot be decoded or converted; a permanent error (retrying cannot help)."""
