"""Label matchers (`=`, `!=`, `=~`, `!~`) and their regexes, matched as Prometheus 2.x does.

A Prometheus regex is RE2 anchored at both ends, `.` not matching a newline (`^(?:re)$`); ClickHouse's
`match` is RE2 too, so regexes are evaluated there (`(?-s)^(?:re)$`, one query for a whole batch of
values), except plain literals and alternations of literals, which are compared here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from backend.metrics.promql.errors import BadDataError

if TYPE_CHECKING:
    from backend.service import Store

__all__ = ["MatchOp", "Matcher", "RegexMatcher", "anchored"]

_LITERAL = re.compile(r"[A-Za-z0-9_\-:/ ,@=<>'\"#%&;~]*")


class MatchOp(StrEnum):
    """A matcher's operator, spelled as in PromQL."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher of a selector: `name op "value"`."""

    name: str
    op: MatchOp
    value: str

    @property
    def is_regex(self) -> bool:
        """Whether the value is a regex."""
        return self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def anchored(pattern: str) -> str:
    """The RE2 pattern ClickHouse's `match` needs for Prometheus's full, newline-excluding match."""
    return f"(?-s)^(?:{pattern})$"


def _literals(pattern: str) -> frozenset[str] | None:
    """The strings a regex made only of literal alternatives matches, or None if it has metacharacters."""
    parts = pattern.split("|")
    if all(_LITERAL.fullmatch(part) for part in parts):
        return frozenset(parts)
    return None


@dataclass
class RegexMatcher:
    """Full-match results of regexes on label values, computed in batches by ClickHouse and remembered."""

    store: Store
    _known: dict[tuple[str, str], bool] = field(default_factory=dict)

    async def resolve(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Compute every (pattern, value) not known yet, in one query."""
        by_pattern: dict[str, set[str]] = {}
        for pattern, value in pairs:
            if (pattern, value) in self._known:
                continue
            literals = _literals(pattern)
            if literals is not None:
                self._known[(pattern, value)] = value in literals
            elif pattern == ".*":
                self._known[(pattern, value)] = "\n" not in value
            elif pattern == ".+":
                self._known[(pattern, value)] = value != "" and "\n" not in value
            else:
                by_pattern.setdefault(pattern, set()).add(value)
        if not by_pattern:
            return
        patterns = list(by_pattern)
        values = [sorted(by_pattern[p]) for p in patterns]
        columns = ", ".join(
            f"arrayMap(v -> match(v, {{p{i}:String}}), {{v{i}:Array(String)}})" for i in range(len(patterns))
        )
        parameters: dict[str, object] = {}
        for i, (pattern, batch) in enumerate(zip(patterns, values, strict=True)):
            parameters[f"p{i}"] = anchored(pattern)
            parameters[f"v{i}"] = batch
        from clickhouse_connect.driver.exceptions import DatabaseError

        try:
            rows = await self.store.rows(f"SELECT {columns}", parameters)
        except DatabaseError as err:
            raise BadDataError(
                f"invalid regular expression in {', '.join(map(repr, patterns))}: {err}"
            ) from None
        for pattern, batch, results in zip(patterns, values, rows[0], strict=True):
            for value, result in zip(batch, results, strict=True):
                self._known[(pattern, value)] = bool(result)

    def matches(self, pattern: str, value: str) -> bool:
        """Whether `pattern` fully matches `value` (after `resolve` saw the pair)."""
        return self._known[(pattern, value)]

    async def select(self, matchers: Iterable[Matcher], candidates: Iterable[Mapping[str, str]]) -> list[int]:
        """Indexes of the label sets in `candidates` that every matcher accepts (a missing label is "")."""
        rules = list(matchers)
        sets = list(candidates)
        await self.resolve((m.value, labels.get(m.name, "")) for m in rules if m.is_regex for labels in sets)
        return [i for i, labels in enumerate(sets) if all(self.accepts(m, labels) for m in rules)]

    def accepts(self, matcher: Matcher, labels: Mapping[str, str]) -> bool:
        """Whether `matcher` accepts a label set (regexes resolved beforehand)."""
        value = labels.get(matcher.name, "")
        if matcher.op is MatchOp.EQUAL:
            return value == matcher.value
        if matcher.op is MatchOp.NOT_EQUAL:
            return value != matcher.value
        found = self.matches(matcher.value, value)
        return found if matcher.op is MatchOp.REGEX else not found
