"""resolve: sources, merging, --set and expansion over the final map."""

import os
from pathlib import Path

import pytest

from collector.confmap import ConfmapError, Plain, resolve, to_plain_data


class Warnings(list[str]):
    """Collects warn() calls."""

    def __call__(self, message: str) -> None:
        self.append(message)


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_maps_merge_deeply_lists_are_replaced_and_the_last_wins(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "a.yaml",
        "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 'a:1'}\n"
        "service:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug, otlp]}\n",
    )
    second = write(
        tmp_path,
        "b.yaml",
        "receivers:\n  otlp:\n    protocols:\n      http: {endpoint: 'b:2'}\n"
        "service:\n  pipelines:\n    traces: {exporters: [file]}\n",
    )
    third = write(tmp_path, "c.yaml", "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: 'c:3'}\n")
    assert resolve([first, second, third], env={}) == {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "c:3"}, "http": {"endpoint": "b:2"}}}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
    }


def test_an_empty_or_null_file_adds_nothing(tmp_path: Path) -> None:
    base = write(tmp_path, "a.yaml", "processors:\n  batch: {}\n")
    empty = write(tmp_path, "empty.yaml", "")
    null = write(tmp_path, "null.yaml", "~\n")
    assert resolve([base, empty, null], env={}) == {"processors": {"batch": {}}}


def test_a_null_value_replaces_an_earlier_map(tmp_path: Path) -> None:
    base = write(tmp_path, "a.yaml", "processors:\n  batch: {timeout: 1s}\n")
    override = write(tmp_path, "b.yaml", "processors:\n  batch:\n")
    assert to_plain_data(resolve([base, override], env={})) == {"processors": {"batch": None}}


def test_file_uri_source_is_read_like_a_path(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "a: 1\n")
    assert to_plain_data(resolve([f"file:{path}"], env={})) == {"a": 1}


def test_env_source_is_yaml_in_a_variable() -> None:
    tree = resolve(["env:CFG"], env={"CFG": "exporters:\n  debug: {verbosity: detailed}\n"})
    assert tree == {"exporters": {"debug": {"verbosity": "detailed"}}}


def test_unset_env_source_warns_and_adds_nothing() -> None:
    warnings = Warnings()
    assert resolve(["env:CFG"], env={}, warn=warnings) == {}
    assert len(warnings) == 1
    assert "'CFG'" in warnings[0]


def test_yaml_source_with_delimited_keys_nests(tmp_path: Path) -> None:
    base = write(tmp_path, "a.yaml", "processors:\n  batch: {send_batch_size: 10}\n")
    tree = resolve([base, "yaml:processors::batch::timeout: 2s"], env={})
    assert to_plain_data(tree) == {"processors": {"batch": {"send_batch_size": 10, "timeout": "2s"}}}


def test_unsupported_source_scheme_is_an_error() -> None:
    with pytest.raises(ConfmapError, match=r"unsupported scheme 'https'"):
        resolve(["https://example.com/config.yaml"], env={})


def test_unreadable_file_names_the_path_and_os_reason(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfmapError) as caught:
        resolve([missing], env={})
    assert str(caught.value) == f"cannot read config file {missing!r}: No such file or directory"
    assert "Traceback" not in str(caught.value)


def test_a_directory_is_unreadable_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfmapError) as caught:
        resolve([str(tmp_path)], env={})
    assert str(caught.value) == f"cannot read config file {str(tmp_path)!r}: Is a directory"


def test_syntax_error_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "a:\n  - b\n  c: d\n")
    with pytest.raises(ConfmapError, match=rf"^{path}: YAML syntax error at line 3, column 3: "):
        resolve([path], env={})


def test_top_level_list_in_a_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- a\n")
    with pytest.raises(ConfmapError, match="the top level must be a map"):
        resolve([path], env={})


def test_set_is_applied_after_the_files_and_typed_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "processors:\n  batch: {timeout: 1s, send_batch_size: 10}\n")
    tree = resolve(
        [path], sets=["processors.batch.timeout=2s", "processors.batch.send_batch_size=20"], env={}
    )
    assert to_plain_data(tree) == {"processors": {"batch": {"timeout": "2s", "send_batch_size": 20}}}
    batch = tree["processors"]
    assert isinstance(batch, dict)
    assert isinstance(batch["batch"]["send_batch_size"], Plain)


def test_set_keeps_slashes_in_component_ids() -> None:
    tree = resolve([], sets=["receivers.otlp/2.protocols.grpc.endpoint=0.0.0.0:4317"], env={})
    assert tree == {"receivers": {"otlp/2": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}}}


def test_set_with_double_colons_keeps_dots_in_keys() -> None:
    tree = resolve([], sets=["processors::attributes/k8s::include::k8s.pod.name=web"], env={})
    assert tree == {"processors": {"attributes/k8s": {"include": {"k8s.pod.name": "web"}}}}


def test_set_value_may_be_a_flow_list_replacing_the_files_list(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "service:\n  pipelines:\n    traces: {exporters: [otlp, debug]}\n")
    tree = resolve([path], sets=["service.pipelines.traces.exporters=[debug]"], env={})
    assert tree == {"service": {"pipelines": {"traces": {"exporters": ["debug"]}}}}


def test_set_value_keeps_everything_after_the_first_equals_sign() -> None:
    tree = resolve([], sets=["exporters.otlp.headers.x=a=b"], env={})
    assert tree == {"exporters": {"otlp": {"headers": {"x": "a=b"}}}}


@pytest.mark.parametrize("flag", ["no-equals-sign", "=value", "a..b=1", "a::::b=1"])
def test_bad_set_syntax_is_rejected(flag: str) -> None:
    with pytest.raises(ConfmapError, match=r"^--set "):
        resolve([], sets=[flag], env={})


def test_expansion_runs_over_the_final_map_not_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yaml",
        "exporters:\n  otlp:\n    endpoint: http://${env:HOST}:4317\n    port: ${env:PORT}\n"
        "    list: ['${env:HOST}', $$HOME]\n  ${env:HOST}: {}\n",
    )
    tree = resolve([path], env={"HOST": "collector", "PORT": "0123"})
    assert tree == {
        "exporters": {
            "otlp": {"endpoint": "http://collector:4317", "port": "0123", "list": ["collector", "$HOME"]},
            "${env:HOST}": {},
        }
    }
    otlp = tree["exporters"]["otlp"]  # type: ignore[index]
    assert isinstance(otlp["port"], Plain)
    assert otlp["port"].value == 123


def test_set_values_are_expanded_too() -> None:
    tree = resolve([], sets=["exporters.otlp.endpoint=${env:HOST}:4317"], env={"HOST": "collector"})
    assert tree == {"exporters": {"otlp": {"endpoint": "collector:4317"}}}


def test_an_overridden_value_is_never_expanded(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "a: ${env:UNSET}\nb: ${bogus:x}\n")
    second = write(tmp_path, "b.yaml", "a: 1\nb: 2\n")
    warnings = Warnings()
    assert to_plain_data(resolve([first, second], env={}, warn=warnings)) == {"a": 1, "b": 2}
    assert warnings == []


def test_file_reference_is_relative_to_the_working_folder_as_in_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "secrets/token", "s3cret\n")
    path = write(tmp_path, "conf/config.yaml", "auth:\n  token: ${file:secrets/token}\n")
    monkeypatch.chdir(tmp_path)
    assert resolve([path], env={}) == {"auth": {"token": "s3cret\n"}}


def test_unset_variable_warning_names_the_key_path_and_variable() -> None:
    warnings = Warnings()
    tree = resolve(
        ["yaml:receivers::otlp::protocols::grpc::endpoint: ${env:ENDPOINT}"], env={}, warn=warnings
    )
    assert to_plain_data(tree) == {"receivers": {"otlp": {"protocols": {"grpc": {"endpoint": None}}}}}
    assert len(warnings) == 1
    assert warnings[0].startswith("receivers::otlp::protocols::grpc::endpoint: ")
    assert "'ENDPOINT'" in warnings[0]


def test_all_expansion_errors_are_reported_together_with_their_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yaml",
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${foo:bar}\n"
        "exporters:\n  otlp:\n    headers: ['${env:BROKEN']\n",
    )
    with pytest.raises(ConfmapError) as caught:
        resolve([path], env={})
    assert str(caught.value) == (
        "2 errors expanding the configuration:\n"
        "  receivers::otlp::protocols::grpc::endpoint: unsupported scheme 'foo' in '${foo:bar}'"
        " (supported: env, file)\n"
        "  exporters::otlp::headers::0: unterminated '${' in '${env:BROKEN'"
    )


def test_a_single_expansion_error_is_one_line_with_its_path() -> None:
    with pytest.raises(ConfmapError) as caught:
        resolve(["yaml:a::b: ${file:}"], env={})
    assert str(caught.value) == "a::b: '${file:}' names no file"


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRIS_TEST_PORT", "4317")
    tree = resolve(["yaml:port: ${env:AIRIS_TEST_PORT}"])
    assert to_plain_data(tree) == {"port": 4317}
    assert os.environ["AIRIS_TEST_PORT"] == "4317"
