"""Typed config decoding: defaults under the user's map, every mistake reported with its path."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

import pytest

from collector.configstruct import decode, encode, format_duration, parse_duration
from collector.confmap import load_yaml
from collector.errors import ConfigError, Problem


class Mode(StrEnum):
    FAST = "fast"
    SAFE = "safe"


@dataclass
class Inner:
    endpoint: str = "localhost:4317"
    timeout: timedelta = timedelta(seconds=5)

    def validate(self) -> None:
        if self.timeout <= timedelta(0):
            raise ValueError(f"timeout must be positive, got {format_duration(self.timeout)}")


@dataclass
class Outer:
    name: str = "x"
    size: int = 10
    ratio: float = 0.5
    enabled: bool = True
    mode: Mode = Mode.SAFE
    level: Literal["a", "b"] = "a"
    inner: Inner = field(default_factory=Inner)
    optional: Inner | None = None
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: Any = None


def decode_yaml(text: str) -> tuple[Outer | None, list[Problem]]:
    return decode(Outer, load_yaml(text, "test.yaml").get("c"), "c")


def test_an_empty_or_null_body_means_all_defaults() -> None:
    for text in ("c:", "c: {}", "c: null"):
        config, problems = decode_yaml(text)
        assert problems == []
        assert config == Outer()


def test_the_users_values_are_laid_over_the_defaults() -> None:
    config, problems = decode_yaml(
        "c: {size: 3, inner: {timeout: 1m30s}, mode: fast, tags: [a, b], headers: {X-Key: v}, extra: {n: 1}}"
    )
    assert problems == []
    assert config is not None
    assert (config.size, config.mode, config.tags, config.headers) == (
        3,
        Mode.FAST,
        ["a", "b"],
        {"X-Key": "v"},
    )
    assert config.inner == Inner("localhost:4317", timedelta(seconds=90))
    assert config.extra == {"n": 1}


def test_a_value_keeps_its_string_form_in_a_string_field() -> None:
    config, _ = decode_yaml("c: {name: 0123}")
    assert config is not None and config.name == "0123"
    config, _ = decode_yaml("c: {name: true}")
    assert config is not None and config.name == "true"


def test_a_present_empty_section_is_on_with_its_defaults() -> None:
    config, problems = decode_yaml("c: {optional: , note: }")
    assert problems == []
    assert config is not None and config.optional == Inner() and config.note is None


def test_every_mistake_is_reported_at_once_with_its_path_and_value() -> None:
    config, problems = decode_yaml(
        "c: {size: abc, ratio: [1], enabled: maybe, mode: slow, level: z, inner: {timeout: abc, endpont: x}, bogus: 1}"
    )
    assert config is None
    assert [str(p) for p in problems] == [
        "c::size: expected an integer, got 'abc'",
        "c::ratio: expected a number, got a list",
        "c::enabled: expected true or false, got 'maybe'",
        "c::mode: 'slow' is not one of fast, safe",
        "c::level: 'z' is not one of a, b",
        "c::inner::timeout: 'abc' is not a duration (expected a number with a unit, e.g. 5s, 200ms, 1m30s)",
        "c::inner::endpont: unknown key (valid keys here: endpoint, timeout)",
        "c::bogus: unknown key (valid keys here: name, size, ratio, enabled, mode, level, inner, optional, note, "
        "tags, headers, extra)",
    ]


def test_a_scalar_where_a_map_is_due_is_reported() -> None:
    _, problems = decode_yaml("c: {inner: 5}")
    assert [str(p) for p in problems] == ["c::inner: expected a map, got '5'"]


def test_validate_runs_on_nested_configs_and_names_their_path() -> None:
    _, problems = decode_yaml("c: {inner: {timeout: -1s}}")
    assert [str(p) for p in problems] == ["c::inner: timeout must be positive, got -1s"]


def test_validate_may_report_several_problems_with_relative_paths() -> None:
    @dataclass
    class Pair:
        low: int = 0
        high: int = 1

        def validate(self) -> None:
            if self.low > self.high:
                raise ConfigError(
                    [Problem("low", "must not exceed high"), Problem("high", "must exceed low")]
                )

    _, problems = decode(Pair, load_yaml("p: {low: 5}", "t").get("p"), "p")
    assert [str(p) for p in problems] == ["p::low: must not exceed high", "p::high: must exceed low"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5),
        ("200ms", 0.2),
        ("1h30m", 5400),
        ("1.5s", 1.5),
        ("-2s", -2),
        ("0", 0),
        ("10us", 1e-5),
        ("3000ns", 3e-6),
    ],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5 s", "5x", "1h 2m", "abc"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [5, 0.2, 90, 3600, 5400.5, 0.00001, 0])
def test_durations_format_back_to_what_parses(seconds: float) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_encode_gives_plain_yaml_ready_data() -> None:
    config, _ = decode_yaml("c: {inner: {timeout: 200ms}}")
    encoded = encode(config)
    assert isinstance(encoded, dict)
    assert encoded["inner"] == {"endpoint": "localhost:4317", "timeout": "200ms"}
    assert encoded["mode"] == "safe"
