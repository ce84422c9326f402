"""Pipeline data: the Batch (OTLP and/or Arrow) and its lossless OTLP <-> Arrow conversion.

Importing this package never imports pyarrow; the Arrow form is built only when asked for.
"""

from collector.pdata.arrow_schema import AnyValueType, MetricType, NumberValueType
from collector.pdata.batch import Batch
from collector.pdata.errors import MalformedData

__all__ = ["AnyValueType", "Batch", "MalformedData", "MetricType", "NumberValueType"]
