"""Relabeling with Prometheus's semantics: actions, anchored RE2-style regexes, Go template expansion."""

from __future__ import annotations

import re

import pytest

from receivers.prometheus.config import RelabelConfig
from receivers.prometheus.relabel import compile_regex, compile_rules, expand, process


def relabel(labels: dict[str, str], *rules: RelabelConfig) -> dict[str, str] | None:
    for rule in rules:
        rule.validate()
    return process(labels, compile_rules(rules))


def test_replace_expands_numbered_and_named_groups() -> None:
    rule = RelabelConfig(
        source_labels=["__address__", "port"],
        separator="|",
        regex="(?P<host>[^:]+):\\d+\\|(\\d+)",
        target_label="addr",
        replacement="${host}:$2",
    )
    assert relabel({"__address__": "db:1", "port": "9100"}, rule) == {
        "__address__": "db:1",
        "port": "9100",
        "addr": "db:9100",
    }


def test_go_template_rules_dollar_name_is_as_long_as_possible_and_double_dollar_is_literal() -> None:
    match = re.compile("(a)(b)").fullmatch("ab")
    assert match is not None
    assert expand("$1x|${1}x|$$1|$2|$9|$", match) == "|ax|$1|b||$"


def test_the_regex_is_anchored_and_no_match_changes_nothing() -> None:
    rule = RelabelConfig(source_labels=["a"], regex="foo", target_label="b", replacement="hit")
    assert relabel({"a": "foobar"}, rule) == {"a": "foobar"}
    assert relabel({"a": "foo"}, rule) == {"a": "foo", "b": "hit"}


def test_an_empty_replacement_removes_the_target_label() -> None:
    rule = RelabelConfig(source_labels=["x"], regex=".*", target_label="gone", replacement="")
    assert relabel({"x": "1", "gone": "v"}, rule) == {"x": "1"}


def test_a_target_label_may_be_a_template() -> None:
    rule = RelabelConfig(source_labels=["k"], regex="(.+)", target_label="key_$1", replacement="v")
    assert relabel({"k": "abc"}, rule) == {"k": "abc", "key_abc": "v"}


def test_keep_and_drop_decide_on_the_joined_source_values() -> None:
    keep = RelabelConfig(source_labels=["a", "b"], regex="1;2", action="keep")
    drop = RelabelConfig(source_labels=["a"], regex="1", action="drop")
    assert relabel({"a": "1", "b": "2"}, keep) is not None
    assert relabel({"a": "1", "b": "3"}, keep) is None
    assert relabel({"a": "1"}, drop) is None and relabel({"a": "2"}, drop) == {"a": "2"}


def test_keepequal_and_dropequal_compare_with_the_target_label() -> None:
    keep = RelabelConfig(source_labels=["a"], target_label="b", action="keepequal")
    drop = RelabelConfig(source_labels=["a"], target_label="b", action="dropequal")
    assert relabel({"a": "1", "b": "1"}, keep) is not None and relabel({"a": "1", "b": "2"}, keep) is None
    assert relabel({"a": "1", "b": "1"}, drop) is None and relabel({"a": "1", "b": "2"}, drop) is not None


def test_hashmod_uses_the_last_8_bytes_of_the_md5_sum() -> None:
    rule = RelabelConfig(source_labels=["__address__"], modulus=8, target_label="shard", action="hashmod")
    # Values computed by Prometheus (checked against the real server in test_peers).
    shards = {a: relabel({"__address__": a}, rule)["shard"] for a in ("10.0.0.1:9100", "10.0.0.2:9100")}  # type: ignore[index]
    assert all(0 <= int(s) < 8 for s in shards.values())
    import hashlib

    for address, shard in shards.items():
        assert int(shard) == int.from_bytes(hashlib.md5(address.encode()).digest()[8:], "big") % 8


def test_labelmap_labeldrop_labelkeep_work_on_label_names() -> None:
    labels = {"__meta_env": "prod", "__meta_zone": "z1", "keep_me": "1", "tmp_x": "2"}
    mapped = relabel(labels, RelabelConfig(regex="__meta_(.+)", replacement="$1", action="labelmap"))
    assert mapped == {**labels, "env": "prod", "zone": "z1"}
    assert relabel(labels, RelabelConfig(regex="tmp_.*|__meta_.*", action="labeldrop")) == {"keep_me": "1"}
    assert relabel(labels, RelabelConfig(regex="keep_.*", action="labelkeep")) == {"keep_me": "1"}


def test_lowercase_and_uppercase() -> None:
    lower = RelabelConfig(source_labels=["a"], target_label="l", action="lowercase")
    upper = RelabelConfig(source_labels=["a"], target_label="u", action="Uppercase")
    assert relabel({"a": "MiXed"}, lower, upper) == {"a": "MiXed", "l": "mixed", "u": "MIXED"}


def test_re2_flags_and_posix_classes_work() -> None:
    assert compile_regex("(?i)foo").fullmatch("FOO")
    assert compile_regex("[[:digit:]]+x").fullmatch("123x")
    assert not compile_regex("\\d+").fullmatch("١٢٣")  # RE2's \d is ASCII only
    assert compile_regex("(?<name>a)b").fullmatch("ab")


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        (RelabelConfig(action="explode"), "action"),
        (RelabelConfig(regex="(unclosed"), "regex"),
        (RelabelConfig(action="hashmod", target_label="x"), "modulus"),
        (RelabelConfig(action="replace", target_label="bad-name"), "target_label"),
        (RelabelConfig(action="labeldrop", source_labels=["a"]), ""),
        (RelabelConfig(action="lowercase", target_label="x", replacement="y"), "replacement"),
    ],
)
def test_invalid_rules_are_refused_naming_the_key(rule: RelabelConfig, key: str) -> None:
    from collector.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        rule.validate()
    assert key in [p.path for p in err.value.problems]
