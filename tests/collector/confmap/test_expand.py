"""expand: the ${...} reference rules, one test per rule."""

from pathlib import Path

import pytest

from collector.confmap import ConfmapError, Plain, expand


class Warnings(list[str]):
    """Collects warn() calls."""

    def __call__(self, message: str) -> None:
        self.append(message)


def run(value: str, env: dict[str, str] | None = None, base_dir: Path = Path()) -> tuple[object, Warnings]:
    warnings = Warnings()
    return expand(value, env or {}, warnings, base_dir), warnings


def test_env_reference_is_replaced() -> None:
    assert run("${env:HOST}", {"HOST": "collector"})[0] == "collector"


def test_bare_name_reference_reads_the_environment() -> None:
    assert run("${HOST}", {"HOST": "collector"})[0] == "collector"


def test_default_is_used_when_the_variable_is_unset() -> None:
    value, warnings = run("${env:PORT:-4317}")
    assert value == "4317"
    assert warnings == []


def test_default_is_not_used_when_the_variable_is_set_but_empty() -> None:
    assert run("x${env:PORT:-4317}x", {"PORT": ""})[0] == "xx"


def test_default_may_contain_colons() -> None:
    assert run("${env:ENDPOINT:-localhost:4317}")[0] == "localhost:4317"


def test_bare_name_with_default_reads_the_environment() -> None:
    assert run("${PORT:-4317}")[0] == "4317"
    assert run("${PORT:-4317}", {"PORT": "55680"})[0] == "55680"


def test_unset_variable_without_default_is_empty_and_warns_naming_it() -> None:
    value, warnings = run("http://${env:HOST}:4317")
    assert value == "http://:4317"
    assert len(warnings) == 1
    assert "'HOST'" in warnings[0]


def test_double_dollar_is_a_literal_dollar() -> None:
    assert run("price: $$5")[0] == "price: $5"


def test_escaped_reference_stays_literal() -> None:
    value, warnings = run("$${env:X}", {"X": "expanded"})
    assert value == "${env:X}"
    assert warnings == []


def test_bare_dollar_variable_stays_as_written() -> None:
    value = run("$HOST and $ alone and trailing $", {"HOST": "x"})[0]
    assert value == "$HOST and $ alone and trailing $"


def test_whole_value_reference_is_plain_and_typed() -> None:
    value = run("${env:PORT}", {"PORT": "4317"})[0]
    assert type(value) is Plain
    assert value == "4317"
    assert isinstance(value, Plain)
    assert value.value == 4317


def test_whole_value_reference_with_leading_zero_keeps_its_text() -> None:
    value = run("${env:ID}", {"ID": "0123"})[0]
    assert value == "0123"
    assert isinstance(value, Plain)
    assert value.value == 123


def test_whole_value_reference_to_an_unset_variable_is_null() -> None:
    value = run("${env:UNSET}")[0]
    assert isinstance(value, Plain)
    assert value.value is None


def test_explicitly_empty_default_is_an_empty_string_not_null() -> None:
    value = run("${env:UNSET:-}")[0]
    assert value == ""
    assert type(value) is str


def test_embedded_reference_gives_a_plain_str() -> None:
    value = run("http://${env:HOST}:4317", {"HOST": "collector"})[0]
    assert value == "http://collector:4317"
    assert type(value) is str


def test_several_references_in_one_string() -> None:
    assert run("${A}-${env:B}-${C:-c}", {"A": "a", "B": "b"})[0] == "a-b-c"


def test_expanded_text_is_not_expanded_again() -> None:
    value, warnings = run("${env:A}", {"A": "${env:B} $$", "B": "b"})
    assert value == "${env:B} $$"
    assert warnings == []


def test_value_without_references_is_returned_unchanged() -> None:
    plain = Plain("4317")
    assert run(plain)[0] is plain


def test_file_reference_reads_the_file_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("s3cret\n")
    value = run("${file:secrets/token}", base_dir=tmp_path)[0]
    assert value == "s3cret\n"
    assert isinstance(value, Plain)


def test_file_reference_keeps_the_trailing_newline_when_embedded(tmp_path: Path) -> None:
    (tmp_path / "host").write_text("collector\n")
    assert run("http://${file:host}", base_dir=tmp_path)[0] == "http://collector\n"


def test_file_reference_with_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "port").write_text("4317")
    value = run(f"${{file:{tmp_path / 'port'}}}", base_dir=Path("/nonexistent"))[0]
    assert isinstance(value, Plain)
    assert value.value == 4317


def test_missing_file_names_the_path_and_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfmapError) as caught:
        run("${file:missing.txt}", base_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "missing.txt") in message
    assert "No such file or directory" in message


def test_unsupported_scheme_is_an_error_naming_it() -> None:
    with pytest.raises(ConfmapError) as caught:
        run("${http:example.com}")
    assert str(caught.value) == "unsupported scheme 'http' in '${http:example.com}' (supported: env, file)"


def test_unterminated_reference_is_an_error_naming_the_string() -> None:
    with pytest.raises(ConfmapError) as caught:
        run("http://${env:HOST:4317")
    assert str(caught.value) == "unterminated '${' in 'http://${env:HOST:4317'"


@pytest.mark.parametrize("reference", ["${env:1BAD}", "${env:A-B}", "${A B}", "${env:}"])
def test_invalid_variable_name_is_an_error(reference: str) -> None:
    with pytest.raises(ConfmapError, match="invalid environment variable name"):
        run(reference)


def test_nested_reference_is_an_error() -> None:
    with pytest.raises(ConfmapError, match="references cannot be nested"):
        run("${env:${X}}")


def test_empty_reference_is_an_error() -> None:
    with pytest.raises(ConfmapError, match="empty reference"):
        run("${}")
