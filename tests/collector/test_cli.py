"""The `airis` command, run as a user would: exit codes and what it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRIS = str(Path(sys.executable).parent / "airis")


def airis(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRIS, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_validate_lists_every_mistake_with_its_path_and_exits_1(tmp_path: Path) -> None:
    """`tagger` stands in for the batch processor (a later issue) to carry a `timeout`."""
    config = tmp_path / "bad.yaml"
    config.write_text("""
receivers:
  otlp:
    protocols:
      grpc:
        endpont: 127.0.0.1:4317
  otlp/:
processors:
  tagger:
    timeout: abc
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [tagger, batch]
      exporters: [debug]
""")
    result = subprocess.run(
        [sys.executable, "-m", "tests.run_airis", "validate", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[1].startswith(
        "  - receivers::otlp::protocols::grpc::endpont: unknown key (valid keys here: endpoint, "
    )
    assert lines[:1] + lines[2:] == [
        "airis: invalid configuration (4 problems):",
        "  - receivers::otlp/: id 'otlp/': the name after '/' must not be empty",
        "  - processors::tagger::timeout: 'abc' is not a duration (expected a number with a unit, e.g. 5s, "
        "200ms, 1m30s)",
        "  - service::pipelines::traces::processors::1: 'batch' is not defined in processors",
    ]


def test_validate_reports_section_and_type_mistakes_together(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("""
exporters:
  debug:
    verbosity: loud
extensions:
  health_check:
    endpoint: "127.0.0.1:13133"
    timeout: 5s
service:
  extensions: [health_check, zpages]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
""")
    result = airis("validate", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[1:] == [
        "  - exporters::debug::verbosity: 'loud' is not one of basic, normal, detailed",
        "  - extensions::health_check::timeout: unknown key (valid keys here: endpoint, path)",
        "  - service::extensions::1: extension 'zpages' is not defined in the extensions section",
        "  - service::pipelines::traces::receivers::0: 'otlp' is not defined in receivers or connectors",
    ]
    assert "Traceback" not in result.stderr


def test_a_wrong_type_names_the_key_and_value(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers: {otlp: {protocols: {grpc: }}}\nexporters: {debug: {sampling_initial: abc}}\n"
        "service: {pipelines: {logs: {receivers: [otlp], exporters: [debug]}}}\n"
    )
    result = airis("validate", "--config", str(config))
    assert result.returncode == 1
    assert "exporters::debug::sampling_initial: expected an integer, got 'abc'" in result.stderr


def test_validate_of_the_shipped_configs_succeeds() -> None:
    for name in ("config.yaml", "examples/agent.yaml"):
        result = airis("validate", "--config", name)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("configuration is valid: 3 pipelines;")


def test_validate_starts_nothing(tmp_path: Path) -> None:
    """validate builds the graph but binds no port: it passes while the ports are taken."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.yaml"
        config.write_text(
            f"receivers: {{otlp: {{protocols: {{http: {{endpoint: '127.0.0.1:{port}'}}}}}}}}\n"
            "exporters: {debug: }\n"
            "service: {pipelines: {logs: {receivers: [otlp], exporters: [debug]}}}\n"
        )
        assert airis("validate", "--config", str(config)).returncode == 0


def test_an_unreadable_file_is_one_clear_message(tmp_path: Path) -> None:
    result = airis("validate", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"airis: cannot read config file '{tmp_path / 'missing.yaml'}': "
        "No such file or directory"
    )


def test_a_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("receivers:\n  otlp:\n    protocols: grpc: x\n")
    result = airis("validate", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"airis: {config}: YAML syntax error at line 3, column 20: mapping values are not allowed here"
    )


def test_a_scalar_where_a_map_is_due_is_one_clear_message(tmp_path: Path) -> None:
    top = tmp_path / "top.yaml"
    top.write_text("just a string\n")
    result = airis("validate", "--config", str(top))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "top.yaml" in result.stderr and "map" in result.stderr
    section = tmp_path / "section.yaml"
    section.write_text("receivers: 5\nservice: {pipelines: {}}\n")
    result = airis("validate", "--config", str(section))
    assert result.returncode == 1
    assert "  - receivers: expected a map of components, got '5'" in result.stderr.splitlines()


def test_config_files_merge_and_set_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "exporters: {debug: {verbosity: detailed}}\nservice: {pipelines: {traces: "
        "{receivers: [otlp], exporters: [debug]}}}\n"
    )
    result = airis(
        "print-config",
        "--config",
        "config.yaml",
        "--config",
        str(extra),
        "--set",
        "service.telemetry.logs.level=debug",
        "--set",
        "receivers.otlp.protocols.grpc.endpoint=x:1",
    )
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["exporters"]["debug"]["verbosity"] == "detailed"
    assert printed["exporters"]["debug"]["sampling_initial"] == 2  # defaults shown
    assert printed["service"]["telemetry"]["logs"]["level"] == "debug"
    assert set(printed["service"]["pipelines"]) == {"traces", "metrics", "logs"}
    assert printed["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "x:1"


def test_print_config_redacts_credentials_and_expands_env(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("""
receivers: {tester: }
exporters: {debug: }
service: {pipelines: {logs: {receivers: [tester], exporters: [debug]}}}
""")
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "secretive.py").write_text("""
from dataclasses import dataclass, field
from collector.component import ReceiverFactory, Stability
from collector.signal import Signal

@dataclass
class Config:
    password: str = ""
    api_key: str = ""
    key_file: str = ""
    endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)

FACTORY = ReceiverFactory("tester", Config, lambda s, c, n: None, {Signal.LOGS: Stability.ALPHA})
""")
    config.write_text("""
receivers: {tester: {password: hunter2, api_key: k, key_file: /etc/k.pem, endpoint: "${env:EP}",
                     headers: {Authorization: Bearer abc, X-Trace: yes}}}
exporters: {debug: }
service: {pipelines: {logs: {receivers: [tester], exporters: [debug]}}}
""")
    script = (
        "import sys; from collector.cli import main; from collector.registry import default_registry; "
        "import secretive; r = default_registry(); r.add(secretive.FACTORY); sys.exit(main(sys.argv[1:], r))"
    )
    env = {"PATH": "/usr/bin:/bin", "EP": "db:5432", "PYTHONPATH": f"{plugin}:{ROOT}"}
    result = subprocess.run(
        [sys.executable, "-c", script, "print-config", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    tester = yaml.safe_load(result.stdout)["receivers"]["tester"]
    assert tester == {
        "password": "[REDACTED]",
        "api_key": "[REDACTED]",
        "key_file": "/etc/k.pem",
        "endpoint": "db:5432",
        "headers": {"Authorization": "[REDACTED]", "X-Trace": "yes"},
    }


def test_an_unset_variable_expands_empty_with_a_warning_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers: {otlp: {protocols: {grpc: {endpoint: '127.0.0.1:4317${env:AIRIS_NOT_SET}'}}}}\n"
        "exporters: {debug: }\nservice: {pipelines: {logs: {receivers: [otlp], exporters: [debug]}}}\n"
    )
    result = airis("validate", "--config", str(config), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "AIRIS_NOT_SET" in result.stderr


def test_components_lists_every_kind_with_signals_and_stability() -> None:
    result = airis("components")
    assert result.returncode == 0
    doc = yaml.safe_load(result.stdout)
    assert {"name": "otlp", "stability": {"traces": "beta", "metrics": "beta", "logs": "beta"}} in doc[
        "receivers"
    ]
    assert {
        "name": "debug",
        "stability": {"traces": "development", "metrics": "development", "logs": "development"},
    } in doc["exporters"]
    assert {
        "name": "forward",
        "stability": {"traces_to_traces": "beta", "metrics_to_metrics": "beta", "logs_to_logs": "beta"},
    } in doc["connectors"]
    assert {"name": "health_check", "stability": {"extension": "beta"}} in doc["extensions"]
    assert [p["name"] for p in doc["processors"]] == ["batch", "memory_limiter"]


def test_the_agent_role_imports_no_columnar_or_storage_library() -> None:
    script = (
        "import sys; from collector.cli import main; rc = main(['validate', '--config', 'examples/agent.yaml']);"
        "from collector.service import Service; import uvloop;"
        "heavy = sorted(m for m in ('pyarrow', 'polars', 'chdb') if m in sys.modules); print(heavy); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_no_config_is_a_usage_message() -> None:
    result = airis()
    assert result.returncode == 1
    assert result.stderr.strip() == "airis: no configuration given: pass --config FILE (at least one)"


def test_third_party_factories_load_from_entry_points(tmp_path: Path) -> None:
    (tmp_path / "myplugin.py").write_text("""
from dataclasses import dataclass
from collector.component import ExporterFactory, Stability
from collector.signal import Signal

@dataclass
class Config:
    target: str = "x"

FACTORY = ExporterFactory("myexporter", Config, lambda s, c, sig: None, {Signal.LOGS: Stability.ALPHA})
""")
    dist = tmp_path / "myplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[airis.exporters]\nmyexporter = myplugin:FACTORY\n[airis.receivers]\nbroken = myplugin:NOTHING\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    result = airis("components", env=env)
    assert result.returncode == 0, result.stderr
    assert {"name": "myexporter", "stability": {"logs": "alpha"}} in yaml.safe_load(result.stdout)[
        "exporters"
    ]
    assert "cannot load receiver 'broken' from entry point myplugin:NOTHING" in result.stderr
