"""Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`) with Prometheus's semantics.

Regexes are RE2 patterns, fully anchored; they run on Python's `re` after a small translation (POSIX
classes, `\\z`, `(?<name>`), with ASCII `\\d\\w\\s` as in RE2. Templates (`target_label`,
`replacement`) expand as Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`; `$1x` means
`${1x}` (empty), as in Prometheus.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from receivers.prometheus.config import RelabelConfig

__all__ = [
    "ACTIONS",
    "DEFAULT_REGEX",
    "LABEL_NAME",
    "CompiledRelabel",
    "compile_regex",
    "compile_rules",
    "expand",
    "process",
]

ACTIONS = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)
DEFAULT_REGEX = "(.*)"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")
_TEMPLATE_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern for full matching; re.error if Python cannot read it."""

    def posix(match: re.Match[str]) -> str:
        chars = _POSIX_CLASSES.get(match.group(2))
        if chars is None or match.group(1):
            raise re.error(f"unsupported character class {match.group(0)}")
        return chars

    translated = _POSIX.sub(posix, pattern).replace("(?<", "(?P<").replace("(?P<=", "(?<=")
    translated = translated.replace("(?P<!", "(?<!").replace("\\z", "\\Z")
    return re.compile(translated, re.ASCII)


def expand(template: str, match: re.Match[str]) -> str:
    """`template` with `$1`, `${1}`, `$name`, `${name}` replaced from `match`, as Go's Expand does."""
    if "$" not in template:
        return template
    out: list[str] = []
    pos, end = 0, len(template)
    groups = match.re.groupindex
    while pos < end:
        dollar = template.find("$", pos)
        if dollar < 0:
            break
        out.append(template[pos:dollar])
        if template.startswith("$$", dollar):
            out.append("$")
            pos = dollar + 2
            continue
        var = _TEMPLATE_VAR.match(template, dollar)
        if var is None:  # malformed: the `$` stays as text
            out.append("$")
            pos = dollar + 1
            continue
        name = var.group(1) or var.group(2)
        pos = var.end()
        if name.isdigit():
            index = int(name)
            if index <= match.re.groups:
                out.append(match.group(index) or "")
        elif name in groups:
            out.append(match.group(name) or "")
    out.append(template[pos:])
    return "".join(out)


@dataclass(frozen=True)
class CompiledRelabel:
    """One relabel rule, ready to apply."""

    action: str
    source_labels: tuple[str, ...]
    separator: str
    regex: re.Pattern[str]
    default_regex: bool
    target_label: str
    replacement: str
    modulus: int


def compile_rules(rules: Sequence[RelabelConfig]) -> tuple[CompiledRelabel, ...]:
    """Compile validated config rules."""
    return tuple(
        CompiledRelabel(
            action=rule.action.lower(),
            source_labels=tuple(rule.source_labels),
            separator=rule.separator,
            regex=compile_regex(rule.regex),
            default_regex=rule.regex == DEFAULT_REGEX,
            target_label=rule.target_label,
            replacement=rule.replacement,
            modulus=rule.modulus,
        )
        for rule in rules
    )


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def process(labels: Mapping[str, str], rules: Sequence[CompiledRelabel]) -> dict[str, str] | None:
    """The labels after every rule in order, or None when a rule drops them. Empty values are absent."""
    out = {k: v for k, v in labels.items() if v}
    for rule in rules:
        if not _apply(rule, out):
            return None
    return out


def _apply(rule: CompiledRelabel, labels: dict[str, str]) -> bool:
    action = rule.action
    val = rule.separator.join(labels.get(name, "") for name in rule.source_labels)
    if action == "replace":
        if val == "" and rule.default_regex and "$" not in rule.target_label and "$" not in rule.replacement:
            _set(labels, rule.target_label, rule.replacement)
            return True
        match = rule.regex.fullmatch(val)
        if match is None:
            return True
        target = expand(rule.target_label, match)
        if not LABEL_NAME.fullmatch(target):
            return True
        _set(labels, target, expand(rule.replacement, match))
    elif action == "keep":
        return rule.regex.fullmatch(val) is not None
    elif action == "drop":
        return rule.regex.fullmatch(val) is None
    elif action == "keepequal":
        return labels.get(rule.target_label, "") == val
    elif action == "dropequal":
        return labels.get(rule.target_label, "") != val
    elif action == "lowercase":
        _set(labels, rule.target_label, val.lower())
    elif action == "uppercase":
        _set(labels, rule.target_label, val.upper())
    elif action == "hashmod":
        digest = hashlib.md5(val.encode(), usedforsecurity=False).digest()
        _set(labels, rule.target_label, str(int.from_bytes(digest[8:], "big") % rule.modulus))
    elif action == "labelmap":
        for name, value in sorted(labels.items()):
            match = rule.regex.fullmatch(name)
            if match is not None:
                _set(labels, expand(rule.replacement, match), value)
    elif action == "labeldrop":
        for name in [n for n in labels if rule.regex.fullmatch(n)]:
            del labels[name]
    elif action == "labelkeep":
        for name in [n for n in labels if not rule.regex.fullmatch(n)]:
            del labels[name]
    else:  # validated away; kept as a guard
        raise ValueError(f"unknown relabel action {action!r}")
    return True
