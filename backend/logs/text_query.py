"""Full-text search on the log body: `q` as words and "quoted phrases", matched through token indexes.

Tokens are what ClickHouse's token indexes and `hasToken` see: runs of ASCII letters and digits and
non-ASCII characters; everything else separates them (`user_id=42` is `user`, `id`, `42`). Every
term must match (AND). A term that is one token matches that whole token (`hasToken`); any other
term (a phrase, or a word with punctuation such as `ip-10-0-1-2` or `error:`) matches where its text
appears as typed, not inside a longer token, and its tokens are also required with `hasToken`, so
the token index prunes granules before the body is read. Case is ignored (ASCII letters only, as
ClickHouse's `lower`) through `lower(Body)` and its index `idx_body_lower` (migration 0004); with
`match_case` the contrib index `idx_body` on `Body` serves exact-case searches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from backend.service import BadRequestError

MAX_QUERY_CHARS = 1_000
"""The longest `q`."""
MAX_TOKENS = 32
"""The most distinct tokens a `q` may require."""

_TOKEN = re.compile(r"[0-9A-Za-z\u0080-\U0010ffff]+")
_TOKEN_CHAR = "0-9A-Za-z\\x{80}-\\x{10FFFF}"
"""The token characters as an RE2 class body (ClickHouse's `match` runs RE2 on UTF-8)."""
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Bind = Callable[[object, str], str]
"""Binds a value of a ClickHouse type as a query parameter and returns its placeholder."""


def ascii_lower(text: str) -> str:
    """`text` with ASCII letters lower-cased, as ClickHouse's `lower` does."""
    return text.translate(_ASCII_LOWER)


def tokens(text: str) -> list[str]:
    """The tokens of `text` as ClickHouse's token indexes and `hasToken` split it."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Term:
    """One search term: a word or a quoted phrase, as typed."""

    text: str

    @property
    def tokens(self) -> list[str]:
        return tokens(self.text)

    @property
    def is_token(self) -> bool:
        """Whether the term is exactly one token (then `hasToken` alone decides)."""
        return _TOKEN.fullmatch(self.text) is not None

    def pattern(self) -> str:
        """An RE2 pattern: the term's text, not preceded or followed by a token character it touches."""
        body = _RE2_SPECIAL.sub(r"\\\1", self.text)
        if _TOKEN.match(self.text[0]):
            body = f"(?:^|[^{_TOKEN_CHAR}])" + body
        if _TOKEN.match(self.text[-1]):
            body += f"(?:$|[^{_TOKEN_CHAR}])"
        return body


@dataclass(frozen=True)
class TextQuery:
    """The parsed `q`: every term must match the body."""

    terms: tuple[Term, ...] = ()
    match_case: bool = False

    @classmethod
    def parse(cls, text: str, match_case: bool = False, parameter: str = "q") -> TextQuery:
        """Words split on whitespace and "quoted phrases"; BadRequestError naming `parameter` if malformed."""
        if len(text) > MAX_QUERY_CHARS:
            raise BadRequestError(f"is longer than {MAX_QUERY_CHARS} characters", parameter)
        if text.count('"') % 2:
            raise BadRequestError('has an unbalanced quote (")', parameter)
        terms: list[Term] = []
        for index, part in enumerate(text.split('"')):
            if index % 2:  # inside quotes: one phrase, its spacing kept
                if part.strip():
                    terms.append(Term(part.strip()))
            else:
                terms.extend(Term(word) for word in part.split())
        if not match_case:
            terms = [Term(ascii_lower(term.text)) for term in terms]
        query = cls(tuple(dict.fromkeys(terms)), match_case)
        if len(query.required_tokens()) > MAX_TOKENS:
            raise BadRequestError(f"has more than {MAX_TOKENS} distinct words", parameter)
        return query

    def required_tokens(self) -> list[str]:
        """Every distinct token some term requires, in order."""
        return list(dict.fromkeys(token for term in self.terms for token in term.tokens))

    def condition(self, bind: Bind) -> str:
        """The SQL condition on the body ('' when there are no terms)."""
        if not self.terms:
            return ""
        column = "Body" if self.match_case else "lower(Body)"
        conditions = [f"hasToken({column}, {bind(token, 'String')})" for token in self.required_tokens()]
        conditions += [
            f"match({column}, {bind(term.pattern(), 'String')})" for term in self.terms if not term.is_token
        ]
        return " AND ".join(conditions)


__all__ = ["MAX_QUERY_CHARS", "MAX_TOKENS", "Bind", "Term", "TextQuery", "ascii_lower", "tokens"]
