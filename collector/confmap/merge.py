"""Config sources and `--set` flags merged into one raw map and `${...}`-expanded, as the collector does."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.confmap.expand import ENV_NAME, expand
from collector.confmap.yamlload import ConfmapError, load_yaml, load_yaml_value

KEY_DELIMITER = "::"
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):(?P<rest>.*)", re.DOTALL)
_logger = logging.getLogger("collector.confmap")


def _log_warning(message: str) -> None:
    _logger.warning("%s", message)


@dataclass(frozen=True, slots=True)
class _Unexpanded:
    """A loaded string waiting for expansion, with the folder its relative `${file:...}` paths start from."""

    text: str
    base_dir: Path


def merge_maps(base: Mapping[str, object], override: Mapping[str, object]) -> dict[str, object]:
    """A new map: `override` laid over `base`; maps merge deeply, anything else (lists, null) replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_maps(current, value)
        else:
            merged[key] = value
    return merged


def _nest(parts: Sequence[str], value: object) -> dict[str, object]:
    nested: dict[str, object] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def _split_delimited_map(tree: Mapping[str, object]) -> dict[str, object]:
    """Keys written `a::b::c` become nested maps, as the collector's confmap reads every source."""
    result: dict[str, object] = {}
    for key, value in tree.items():
        result = merge_maps(result, _nest(key.split(KEY_DELIMITER), _split_delimited_keys(value)))
    return result


def _split_delimited_keys(tree: object) -> object:
    if isinstance(tree, list):
        return [_split_delimited_keys(item) for item in tree]
    return _split_delimited_map(tree) if isinstance(tree, dict) else tree


def _wrap(tree: object, base_dir: Path) -> object:
    if isinstance(tree, dict):
        return {key: _wrap(value, base_dir) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_wrap(item, base_dir) for item in tree]
    if isinstance(tree, str):
        return _Unexpanded(tree, base_dir)
    return tree


def _read_config_file(path_text: str) -> tuple[str, Path]:
    path = Path(path_text)
    try:
        return path.read_text(
            encoding="utf-8"
        ), Path.cwd()  # `${file:rel}` is cwd-relative, as in the collector
    except OSError as err:
        raise ConfmapError(f"cannot read config file {path_text!r}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfmapError(f"cannot read config file {path_text!r}: not UTF-8 text") from None


def _load_source(source: str, env: Mapping[str, str], warn: Callable[[str], None]) -> dict[str, object]:
    """One `--config` value: a path, `file:path`, `env:VAR` (YAML in VAR) or `yaml:inline YAML`."""
    match = _URI.fullmatch(source)
    scheme, rest = (match["scheme"], match["rest"]) if match else ("file", source)
    if scheme == "file":
        text, base_dir = _read_config_file(rest)
        return _wrap_map(load_yaml(text, rest), base_dir)
    if scheme == "env":
        if not ENV_NAME.fullmatch(rest):
            raise ConfmapError(f"config source {source!r}: invalid environment variable name {rest!r}")
        if rest not in env:
            warn(f"config source {source!r}: environment variable {rest!r} is not set; it adds nothing")
            return {}
        return _wrap_map(load_yaml(env[rest], source), Path.cwd())
    if scheme == "yaml":
        return _wrap_map(load_yaml(rest, source), Path.cwd())
    raise ConfmapError(
        f"config source {source!r}: unsupported scheme {scheme!r} (supported: file, env, yaml)"
    )


def _wrap_map(tree: dict[str, object], base_dir: Path) -> dict[str, object]:
    return {key: _wrap(value, base_dir) for key, value in _split_delimited_map(tree).items()}


def _parse_set(flag: str) -> dict[str, object]:
    """One `--set key.path=value`: keys split on '::' when the key has it, else on '.'; value is YAML."""
    key, equals, raw_value = flag.partition("=")
    key = key.strip()
    if not equals or not key:
        raise ConfmapError(f"--set {flag!r}: expected KEY=VALUE, e.g. processors.batch.timeout=2s")
    parts = key.split(KEY_DELIMITER) if KEY_DELIMITER in key else key.split(".")
    if any(not part.strip() for part in parts):
        raise ConfmapError(f"--set {flag!r}: the key {key!r} has an empty part")
    value = load_yaml_value(raw_value.strip(), f"--set {flag!r}")
    return _nest([part.strip() for part in parts], _wrap(value, Path.cwd()))


def _expand_tree(
    tree: object,
    path: str,
    env: Mapping[str, str],
    warn: Callable[[str], None],
    errors: list[str],
) -> object:
    if isinstance(tree, dict):
        return {
            key: _expand_tree(value, f"{path}{KEY_DELIMITER}{key}", env, warn, errors)
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [
            _expand_tree(item, f"{path}{KEY_DELIMITER}{index}", env, warn, errors)
            for index, item in enumerate(tree)
        ]
    if not isinstance(tree, _Unexpanded):
        return tree
    try:
        return expand(tree.text, env, lambda message: warn(f"{path}: {message}"), tree.base_dir)
    except ConfmapError as err:
        errors.append(f"{path}: {err}")
        return tree.text


def resolve(
    sources: Sequence[str],
    sets: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = _log_warning,
) -> dict[str, object]:
    """Merge `sources` in order (the last wins), apply each `--set`, then expand `${...}` in every string.

    All expansion errors are reported together, each with its key path (`receivers::otlp::protocols`).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    merged: dict[str, object] = {}
    for source in sources:
        merged = merge_maps(merged, _load_source(source, environ, warn))
    for flag in sets:
        merged = merge_maps(merged, _parse_set(flag))
    errors: list[str] = []
    expanded = {key: _expand_tree(value, key, environ, warn, errors) for key, value in merged.items()}
    if len(errors) == 1:
        raise ConfmapError(errors[0])
    if errors:
        raise ConfmapError(f"{len(errors)} errors expanding the configuration:\n  " + "\n  ".join(errors))
    return expanded
