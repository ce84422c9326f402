"""Parsing `q` into terms and the SQL they become (values only as bound parameters)."""

from __future__ import annotations

import re

import pytest

from backend.logs.filters import Bindings
from backend.logs.text_query import Term, TextQuery, ascii_lower, tokens
from backend.service import BadRequestError


def test_tokens_split_as_clickhouse_token_indexes_do() -> None:
    assert tokens("user_id=42 GET /api/v1 héllo-wörld") == [
        "user",
        "id",
        "42",
        "GET",
        "api",
        "v1",
        "héllo",
        "wörld",
    ]
    assert ascii_lower("ÉCOLE Error") == "École error"


def test_words_and_quoted_phrases_lower_cased_and_deduplicated() -> None:
    query = TextQuery.parse('Error  "Connection  Reset" error timeout:')
    assert [t.text for t in query.terms] == ["error", "connection  reset", "timeout:"]
    assert query.required_tokens() == ["error", "connection", "reset", "timeout"]
    assert [t.text for t in TextQuery.parse("Error", match_case=True).terms] == ["Error"]
    assert TextQuery.parse('  "" ').terms == ()


def test_one_token_terms_are_hastoken_others_also_a_bounded_regex() -> None:
    bind = Bindings()
    sql = TextQuery.parse('error "a.b (c)"').condition(bind)
    assert sql == (
        "hasToken(lower(Body), {p0:String}) AND hasToken(lower(Body), {p1:String}) AND "
        "hasToken(lower(Body), {p2:String}) AND hasToken(lower(Body), {p3:String}) AND "
        "match(lower(Body), {p4:String})"
    )
    assert list(bind.values.values())[:4] == ["error", "a", "b", "c"]
    pattern = str(bind.values["p4"])
    assert pattern == r"(?:^|[^0-9A-Za-z\x{80}-\x{10FFFF}])a\.b \(c\)"
    python = pattern.replace(r"\x{80}-\x{10FFFF}", "\u0080-\U0010ffff")
    assert re.search(python, "x a.b (c) y") and not re.search(python, "xa.b (c)")
    assert TextQuery.parse("Error", match_case=True).condition(Bindings()) == "hasToken(Body, {p0:String})"
    assert TextQuery().condition(Bindings()) == ""


def test_a_term_without_tokens_is_matched_by_its_text_only() -> None:
    term = Term("->")
    assert (term.tokens, term.is_token, term.pattern()) == ([], False, "->")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('"unclosed', 'q: has an unbalanced quote (")'),
        ("x" * 1001, "q: is longer than 1000 characters"),
        (" ".join(f"w{i}" for i in range(33)), "q: has more than 32 distinct words"),
    ],
)
def test_malformed_queries_are_bad_requests_naming_q(text: str, error: str) -> None:
    with pytest.raises(BadRequestError) as err:
        TextQuery.parse(text)
    assert str(err.value) == error
