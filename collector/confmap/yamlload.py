"""YAML in and out: plain scalars keep their text (`Plain`) and are typed by YAML 1.2 core rules on demand."""

from __future__ import annotations

import math
import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"([-+]?)\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_MERGE_KEY = "<<"


class ConfmapError(Exception):
    """A config source could not be read, parsed or expanded; the message says where and why."""


def resolve_scalar(text: str) -> object:
    """What YAML 1.2 (core schema) makes of `text` as a plain scalar; surrounding whitespace is ignored."""
    stripped = text.strip()
    if stripped in _NULLS:
        return None
    if stripped in _TRUES:
        return True
    if stripped in _FALSES:
        return False
    if _DECIMAL.fullmatch(stripped):
        return int(stripped, 10)
    if _OCTAL.fullmatch(stripped):
        return int(stripped[2:], 8)
    if _HEX.fullmatch(stripped):
        return int(stripped[2:], 16)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    if match := _INF.fullmatch(stripped):
        return -math.inf if match.group(1) == "-" else math.inf
    if _NAN.fullmatch(stripped):
        return math.nan
    return str(text)


class Plain(str):
    """A plain (unquoted) YAML scalar or a whole-value ${...} expansion; `.value` is what YAML makes of it."""

    __slots__ = ()

    @property
    def value(self) -> object:
        """None, bool, int, float or the text itself, by YAML 1.2 core rules (`yes`/`on` stay text)."""
        return resolve_scalar(self)

    def __repr__(self) -> str:
        return f"Plain({str.__repr__(self)})"


def _where(source: str, node: Node) -> str:
    mark = node.start_mark
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


class _Converter:
    """Turns a composed YAML node graph into dicts, lists, `Plain` and `str`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.active: set[int] = set()

    def convert(self, node: Node) -> object:
        if isinstance(node, ScalarNode):
            return Plain(node.value) if node.style is None else str(node.value)
        if id(node) in self.active:
            raise ConfmapError(f"{_where(self.source, node)}: an alias refers to the node that contains it")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.convert(item) for item in node.value]
            if isinstance(node, MappingNode):
                return self.convert_mapping(node)
            raise ConfmapError(f"{_where(self.source, node)}: unsupported YAML node {type(node).__name__}")
        finally:
            self.active.discard(id(node))

    def convert_mapping(self, node: MappingNode) -> dict[str, object]:
        own: dict[str, object] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                where = _where(self.source, key_node)
                kind = "a list" if isinstance(key_node, SequenceNode) else "a map"
                raise ConfmapError(f"{where}: a map key must be a scalar, not {kind}")
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key == _MERGE_KEY and key_node.style is None:
                merged = self.merge_sources(value_node) | merged
                continue
            if key in own:
                where = _where(self.source, key_node)
                raise ConfmapError(f"{where}: duplicate key {key!r} (first on line {first_line[key]})")
            first_line[key] = line
            own[key] = self.convert(value_node)
        return merged | own

    def merge_sources(self, node: Node) -> dict[str, object]:
        """The maps named by a `<<` merge key; earlier maps win, as YAML's merge-key spec says."""
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        result: dict[str, object] = {}
        for item in reversed(nodes):
            value = self.convert(item)
            if not isinstance(value, dict):
                raise ConfmapError(f"{_where(self.source, item)}: '<<' merges maps only, got {_kind(value)}")
            result |= value
        return result


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return f"the scalar {str(value)!r}"


def _compose(text: str, source: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        if mark is None:
            raise ConfmapError(f"{source}: YAML syntax error: {problem}") from None
        raise ConfmapError(
            f"{source}: YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        ) from None
    except yaml.YAMLError as err:
        raise ConfmapError(f"{source}: YAML error: {err}") from None


def load_yaml_value(text: str, source: str) -> object:
    """Any YAML document as dicts/lists/`Plain`/`str`; an empty document is `Plain('')` (null)."""
    node = _compose(text, source)
    return Plain("") if node is None else _Converter(source).convert(node)


def load_yaml(text: str, source: str) -> dict[str, object]:
    """A YAML document that must be a map at the top (empty or null is `{}`); `source` names it in errors."""
    value = load_yaml_value(text, source)
    if isinstance(value, Plain) and value.value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfmapError(f"{source}: the top level must be a map of keys to values, found {_kind(value)}")
    return value


def to_plain_data(tree: object) -> object:
    """`tree` with every `Plain` replaced by its YAML-typed `.value`, recursively; for printing, dumping."""
    if isinstance(tree, Plain):
        return tree.value
    if isinstance(tree, dict):
        return {key: to_plain_data(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [to_plain_data(item) for item in tree]
    return tree


class _Dumper(yaml.SafeDumper):
    """Safe dumper that also quotes strings YAML 1.2 would read as something else (`0o17`, `1e3`)."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "'" if not isinstance(resolve_scalar(data), str) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(tree: object) -> str:
    """YAML text of a (resolved) tree, keys in insertion order; `load_yaml` reads it back to the same data."""
    return yaml.dump(
        to_plain_data(tree),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
