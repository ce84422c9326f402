"""load_yaml, Plain typing, to_plain_data and dump_yaml."""

import math

import pytest

from collector.confmap import ConfmapError, Plain, dump_yaml, load_yaml, to_plain_data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("~", None),
        ("null", None),
        ("NULL", None),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("4317", 4317),
        ("-5", -5),
        ("0123", 123),
        ("0x1f", 31),
        ("0o17", 15),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("1_000", "1_000"),
        ("10s", "10s"),
        ("localhost:4317", "localhost:4317"),
    ],
)
def test_plain_value_follows_yaml_1_2_core_schema(text: str, expected: object) -> None:
    value = Plain(text).value
    assert value == expected
    assert type(value) is type(expected)


def test_plain_nan_value_is_nan() -> None:
    value = Plain(".nan").value
    assert isinstance(value, float)
    assert math.isnan(value)


def test_plain_keeps_its_text() -> None:
    port = Plain("0123")
    assert port == "0123"
    assert isinstance(port, str)
    assert repr(port) == "Plain('0123')"


def test_plain_scalars_become_plain_and_quoted_scalars_stay_str() -> None:
    tree = load_yaml("a: 1\nb: '1'\nc: \"x\"\nd: |\n  block\n", "c.yaml")
    assert tree == {"a": "1", "b": "1", "c": "x", "d": "block\n"}
    assert type(tree["a"]) is Plain
    assert type(tree["b"]) is str
    assert type(tree["c"]) is str
    assert type(tree["d"]) is str


def test_keys_are_plain_str() -> None:
    tree = load_yaml("123: x\ntrue: y\n", "c.yaml")
    assert [type(key) for key in tree] == [str, str]
    assert list(tree) == ["123", "true"]


@pytest.mark.parametrize("text", ["", "   \n", "~", "null", "# only a comment\n"])
def test_empty_or_null_document_is_an_empty_map(text: str) -> None:
    assert load_yaml(text, "c.yaml") == {}


def test_top_level_list_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ConfmapError) as caught:
        load_yaml("- a\n- b\n", "c.yaml")
    assert str(caught.value) == "c.yaml: the top level must be a map of keys to values, found a list"


def test_top_level_scalar_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ConfmapError) as caught:
        load_yaml("receivers\n", "c.yaml")
    assert str(caught.value) == (
        "c.yaml: the top level must be a map of keys to values, found the scalar 'receivers'"
    )


def test_duplicate_key_is_rejected_naming_the_key_and_lines() -> None:
    with pytest.raises(ConfmapError) as caught:
        load_yaml("receivers:\n  otlp: {}\n  otlp: {}\n", "c.yaml")
    assert str(caught.value) == "c.yaml:3:3: duplicate key 'otlp' (first on line 2)"


def test_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(ConfmapError) as caught:
        load_yaml("receivers:\n  otlp:\n    endpoint: a: b\n", "config.yaml")
    assert str(caught.value) == (
        "config.yaml: YAML syntax error at line 3, column 16: mapping values are not allowed here"
    )


def test_tab_indentation_is_a_syntax_error_with_position() -> None:
    with pytest.raises(ConfmapError, match=r"^c\.yaml: YAML syntax error at line 2, column 1: "):
        load_yaml("a:\n\tb: 1\n", "c.yaml")


def test_non_scalar_key_is_rejected() -> None:
    with pytest.raises(ConfmapError, match=r"^c\.yaml:1:3: a map key must be a scalar, not a list$"):
        load_yaml("? [a]\n: 1\n", "c.yaml")


def test_anchors_and_merge_keys_work_and_explicit_keys_win() -> None:
    tree = load_yaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", "c.yaml")
    assert to_plain_data(tree) == {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}}


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(ConfmapError, match="alias refers to the node that contains it"):
        load_yaml("a: &a [*a]\n", "c.yaml")


def test_to_plain_data_types_plain_values_recursively() -> None:
    tree = load_yaml("a: 1\nb: ['2', 3, ~]\nc: {d: true, e: text}\n", "c.yaml")
    assert to_plain_data(tree) == {"a": 1, "b": ["2", 3, None], "c": {"d": True, "e": "text"}}


def test_dump_yaml_keeps_key_order_and_quotes_number_like_strings() -> None:
    text = dump_yaml({"z": Plain("4317"), "a": "4317", "m": "0o17", "n": "1e3", "o": "yes", "p": ""})
    assert text == "z: 4317\na: '4317'\nm: '0o17'\nn: '1e3'\no: 'yes'\np: ''\n"


def test_dump_yaml_round_trips_through_load_yaml() -> None:
    tree: dict[str, object] = {
        "receivers": {"otlp/2": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}},
        "numbers": [Plain("1"), "1", Plain("0x10"), "0123", Plain("1.5"), Plain(".inf")],
        "flags": {"on": Plain("true"), "off": "false", "word": Plain("yes")},
        "empty": {"null": Plain("~"), "text": "", "map": {}, "list": []},
        "multiline": "a\nb\n",
        "unicode": "héllo",
    }
    assert to_plain_data(load_yaml(dump_yaml(tree), "dumped")) == to_plain_data(tree)
