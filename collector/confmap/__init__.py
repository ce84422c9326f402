"""Config files and `--set` flags turned into one raw map, as the OpenTelemetry Collector's confmap does.

`resolve` reads and deeply merges the sources, applies `--set`, then expands `${...}` references.
Plain YAML scalars stay `Plain` strings until a typed config asks for their `.value`.
"""

from collector.confmap.expand import expand
from collector.confmap.merge import resolve
from collector.confmap.redact import REDACTED, redact
from collector.confmap.yamlload import ConfmapError, Plain, dump_yaml, load_yaml, to_plain_data

__all__ = [
    "REDACTED",
    "ConfmapError",
    "Plain",
    "dump_yaml",
    "expand",
    "load_yaml",
    "redact",
    "resolve",
    "to_plain_data",
]
