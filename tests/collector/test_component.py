"""Component ids follow the collector's rules."""

import pytest

from collector.component import ComponentId


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("otlp", ComponentId("otlp")),
        ("otlp/2", ComponentId("otlp", "2")),
        ("otlp_grpc/in.bound-1", ComponentId("otlp_grpc", "in.bound-1")),
        ("batch/a/b", ComponentId("batch", "a/b")),
    ],
)
def test_valid_ids_parse_into_type_and_name(text: str, expected: ComponentId) -> None:
    assert ComponentId.parse(text) == expected
    assert str(ComponentId.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("otlp/", "the name after '/' must not be empty"),
        ("", "empty type"),
        ("/x", "empty type"),
        ("1otlp", "must start with a letter"),
        ("ot-lp", "must start with a letter"),
        ("otlp/a b", "must not hold spaces"),
        ("otlp/a$b", "symbols"),
        ("a" * 64, "at most 63"),
    ],
)
def test_invalid_ids_say_which_rule_they_break(text: str, complaint: str) -> None:
    with pytest.raises(ValueError) as info:
        ComponentId.parse(text)
    assert complaint in str(info.value)
