"""Pieces of the Prometheus text format (0.0.4) and OpenMetrics 1.0.

The hot loop (`convert.ScrapeConverter`) splits common sample lines with string methods, faster
than any regex here; `split_sample` is the strict fallback for other lines (tabs, exemplars, no
labels). Labels are parsed (`parse_labels`) only for series not seen before: a cache keyed by the
raw series text makes repeated scrapes cheap.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "OPENMETRICS_ACCEPT",
    "ParseError",
    "is_openmetrics",
    "parse_labels",
    "parse_timestamp_ms",
    "parse_value",
    "split_sample",
    "unescape_help",
]

# Prometheus's own Accept header: OpenMetrics 1.0 first, then the text format.
OPENMETRICS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class ParseError(ValueError):
    """The body is not valid exposition text; Prometheus then fails the whole scrape."""


_LABELS = r'[^"}\n]*(?:"[^"\\\n]*(?:\\.[^"\\\n]*)*"[^"}\n]*)*'
_SAMPLE = re.compile(
    r"[ \t]*([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]*(?:\{(" + _LABELS + r")\}[ \t]*|[ \t]+)([^ \t#]+)"
    r"(?:[ \t]+([^ \t#][^ \t]*))?[ \t]*"
    r"(?:#[ \t]*\{(" + _LABELS + r")\}[ \t]*([^ \t]+)(?:[ \t]+([^ \t]+))?[ \t]*)?\r?"
)
_PAIR = r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\\n]*(?:\\.[^"\\\n]*)*)"[ \t]*'
_LABEL = re.compile(_PAIR + ",?")
# A whole label list: pairs separated by commas, an optional trailing comma, blanks around.
_PAIR_UNCAPTURED = r'[ \t]*[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"[^"\\\n]*(?:\\.[^"\\\n]*)*"[ \t]*'
_LABEL_LIST = re.compile(rf"(?:{_PAIR_UNCAPTURED},)*(?:{_PAIR_UNCAPTURED},?)?[ \t]*")
_ESCAPE = re.compile(r"\\([\\\"n])")
_HELP_ESCAPE = re.compile(r"\\([\\n])")
_UNESCAPED = {"\\": "\\", '"': '"', "n": "\n"}


def split_sample(line: str) -> tuple[str, str, str, tuple[str, str, str] | None]:
    """(series key, value, timestamp, exemplar (labels, value, timestamp) or None) of a sample line.

    The key is the line up to its labels' closing brace (`name{labels`), or the bare name.
    """
    match = _SAMPLE.fullmatch(line)
    if match is None:
        raise ParseError(f"invalid line {line[:200]!r}")
    name, labels, value, ts, ex_labels, ex_value, ex_ts = match.groups()
    key = f"{name}{{{labels}" if labels is not None else name
    exemplar = (ex_labels or "", ex_value, ex_ts or "") if ex_value else None
    return key, value, ts or "", exemplar


def is_openmetrics(content_type: str) -> bool:
    """Whether a response's Content-Type names OpenMetrics (else the text format is assumed)."""
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


def _unescape(match: re.Match[str]) -> str:
    return _UNESCAPED[match.group(1)]


def parse_labels(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a raw label list `a="1",b="x\\"y"`; ParseError if malformed."""
    if _LABEL_LIST.fullmatch(text) is None:
        raise ParseError(f"invalid label list {{{text[:200]}}}")
    pairs: list[tuple[str, str]] = _LABEL.findall(text)
    if "\\" in text:
        pairs = [(k, _ESCAPE.sub(_unescape, v) if "\\" in v else v) for k, v in pairs]
    return pairs


def parse_value(text: str) -> float:
    """A sample value as Go's ParseFloat reads it (also `+Inf`, `NaN`, hex floats); ParseError if not."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float.fromhex(text)
    except ValueError:
        raise ParseError(f"invalid sample value {text!r}") from None


def parse_timestamp_ms(text: str, openmetrics: bool) -> int:
    """A sample's timestamp in milliseconds: an integer of ms (text) or seconds with a fraction (OpenMetrics)."""
    try:
        if openmetrics:
            seconds = float(text)
            if not math.isfinite(seconds):
                raise ValueError(text)
            return int(seconds * 1000)
        return int(text)
    except ValueError:
        raise ParseError(f"invalid timestamp {text!r}") from None


def unescape_help(text: str, openmetrics: bool) -> str:
    """HELP text with its escapes resolved (`\\\\`, `\\n`, and in OpenMetrics `\\"`)."""
    if "\\" not in text:
        return text
    return (_ESCAPE if openmetrics else _HELP_ESCAPE).sub(_unescape, text)
