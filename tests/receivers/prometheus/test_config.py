"""The receiver's config: Prometheus's scrape_configs format, its defaults, and errors with key paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.component import ComponentId, Kind
from collector.config import load
from collector.configstruct import decode
from collector.confmap import resolve
from collector.errors import ConfigError
from collector.registry import default_registry
from receivers.prometheus import FACTORY, PrometheusReceiverConfig
from receivers.prometheus.config import PromConfig, parse_prom_duration
from receivers.prometheus.discovery import build_targets, read_sd_file, static_groups
from receivers.prometheus.relabel import compile_rules

PATH = "receivers::prometheus"


def problems_of(raw: dict[str, Any]) -> dict[str, str]:
    config, problems = decode(PrometheusReceiverConfig, raw, PATH)
    assert config is None and problems
    return {p.path: p.message for p in problems}


def prometheus(raw: dict[str, Any]) -> PromConfig:
    config, problems = decode(PrometheusReceiverConfig, {"config": raw}, PATH)
    assert not problems, problems
    assert config is not None
    return config.prometheus()


def test_the_factory_is_registered_for_metrics() -> None:
    registry = default_registry(entry_points_too=False)
    assert registry.get(FACTORY.kind, "prometheus") is FACTORY
    assert list(FACTORY.signals) == ["metrics"]


def test_prometheus_defaults_apply() -> None:
    config = prometheus({"scrape_configs": [{"job_name": "a"}]})
    job = config.scrape_configs[0]
    assert (job.interval_seconds(config.global_), job.timeout_seconds(config.global_)) == (60.0, 10.0)
    assert (job.metrics_path, job.scheme, job.honor_labels, job.honor_timestamps) == (
        "/metrics",
        "http",
        False,
        True,
    )


def test_global_settings_are_the_jobs_defaults_and_the_timeout_never_exceeds_the_interval() -> None:
    config = prometheus(
        {
            "global": {"scrape_interval": "15s", "scrape_timeout": "12s", "external_labels": {"dc": "x"}},
            "scrape_configs": [{"job_name": "a"}, {"job_name": "b", "scrape_interval": "5s"}],
        }
    )
    a, b = config.scrape_configs
    assert (a.interval_seconds(config.global_), a.timeout_seconds(config.global_)) == (15.0, 12.0)
    assert (b.interval_seconds(config.global_), b.timeout_seconds(config.global_)) == (5.0, 5.0)
    # an unset global timeout is 10s, or the global interval when that is shorter
    short = prometheus({"global": {"scrape_interval": "2s"}, "scrape_configs": [{"job_name": "a"}]})
    assert short.scrape_configs[0].timeout_seconds(short.global_) == 2.0
    too_long = {
        "global": {"scrape_interval": "2s", "scrape_timeout": "3s"},
        "scrape_configs": [{"job_name": "a"}],
    }
    assert problems_of({"config": too_long}) == {
        f"{PATH}::config::global::scrape_timeout": "is greater than scrape_interval"
    }


def test_prometheus_durations() -> None:
    assert [parse_prom_duration(d) for d in ("0", "30s", "1m30s", "2h", "1d", "1w", "500ms", "1y")] == [
        0.0,
        30.0,
        90.0,
        7200.0,
        86400.0,
        604800.0,
        0.5,
        31536000.0,
    ]
    for bad in ("", "1.5s", "5", "1s1m", "-1s"):
        with pytest.raises(ValueError):
            parse_prom_duration(bad)


def test_unknown_keys_are_reported_with_their_path() -> None:
    found = problems_of(
        {
            "config": {
                "scrape_configs": [
                    {"job_name": "a", "scrape_intervall": "5s", "static_configs": [{"target": []}]}
                ],
                "globals": {},
            },
            "trim_suffixes": True,
        }
    )
    assert set(found) == {
        f"{PATH}::config::scrape_configs::0::scrape_intervall",
        f"{PATH}::config::scrape_configs::0::static_configs::0::target",
        f"{PATH}::config::globals",
        f"{PATH}::trim_suffixes",
    }


def test_every_mistake_is_reported_at_once_with_its_path() -> None:
    found = problems_of(
        {
            "config": {
                "rule_files": ["x.yml"],
                "scrape_configs": [
                    {
                        "job_name": "a",
                        "scrape_interval": "10s",
                        "scrape_timeout": "20s",
                        "scheme": "ftp",
                        "relabel_configs": [
                            {"action": "explode"},
                            {"action": "hashmod", "target_label": "s"},
                        ],
                        "metric_relabel_configs": [{"source_labels": ["x"], "target_label": "__name__"}],
                        "tls_config": {"cert_file": "/nonexistent.crt"},
                        "basic_auth": {"username": "u", "password": "p", "password_file": "/f"},
                        "file_sd_configs": [{"files": ["targets.txt"]}],
                    },
                ],
            }
        }
    )
    job = f"{PATH}::config::scrape_configs::0"
    expected = {
        f"{PATH}::config::rule_files",
        f"{job}::scheme",
        f"{job}::relabel_configs::0::action",
        f"{job}::relabel_configs::1::modulus",
        f"{job}::metric_relabel_configs::0::target_label",
        f"{job}::tls_config::cert_file",
        f"{job}::tls_config::key_file",
        f"{job}::basic_auth::password_file",
        f"{job}::file_sd_configs::0::files::0",
    }
    assert expected <= set(found), set(found)
    assert "disallowed" in found[f"{job}::metric_relabel_configs::0::target_label"]


def test_job_names_must_be_unique() -> None:
    found = problems_of({"config": {"scrape_configs": [{"job_name": "a"}, {"job_name": "a"}]}})
    assert list(found) == [f"{PATH}::config::scrape_configs::1::job_name"]


def test_a_timeout_above_the_interval_is_refused() -> None:
    found = problems_of(
        {"config": {"scrape_configs": [{"job_name": "a", "scrape_interval": "5s", "scrape_timeout": "6s"}]}}
    )
    assert list(found) == [f"{PATH}::config::scrape_configs::0::scrape_timeout"]


def test_scrape_configs_are_required() -> None:
    assert list(problems_of({"config": {}})) == [f"{PATH}::config::scrape_configs"]


def test_dollars_escaped_in_the_collector_yaml_reach_relabeling_as_single_dollars(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: a
          relabel_configs: [{source_labels: [x], target_label: y, replacement: '$${1}-$$1'}]
exporters: {debug: }
service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
"""
    )
    config = load(resolve([str(path)]), default_registry(entry_points_too=False))
    receiver = config.component(Kind.RECEIVER, ComponentId("prometheus")).config
    rule = receiver.prometheus().scrape_configs[0].relabel_configs[0]
    assert rule.replacement == "${1}-$1"


def test_targets_get_prometheus_labels_and_urls() -> None:
    config = prometheus(
        {
            "scrape_configs": [
                {
                    "job_name": "probe",
                    "scrape_interval": "30s",
                    "params": {"module": ["http_2xx"]},
                    "static_configs": [{"targets": ["a:1", "b:2", "a:1"], "labels": {"env": "x"}}],
                    "relabel_configs": [
                        {"source_labels": ["__address__"], "target_label": "__param_target"},
                        {"source_labels": ["__address__"], "regex": "b:2", "action": "drop"},
                    ],
                }
            ]
        }
    )
    job = config.scrape_configs[0]
    (target,) = build_targets(job, config.global_, static_groups(job), compile_rules(job.relabel_configs))
    assert target.url == "http://a:1/metrics?module=http_2xx&target=a%3A1"
    assert target.public_labels == {"env": "x", "instance": "a:1", "job": "probe"}
    assert (target.interval, target.timeout, target.scheme) == (30.0, 10.0, "http")
    assert target.label("__scrape_interval__") == "30s"


def test_file_sd_files_hold_target_groups(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("- targets: ['h:1']\n  labels: {zone: z}\n")
    (tmp_path / "b.json").write_text('[{"targets": ["h:2"]}]')
    (tmp_path / "bad.json").write_text('[{"targets": ["h:3"], "extra": 1}]')
    (group,) = read_sd_file(str(tmp_path / "a.yml"))
    assert group.targets == ("h:1",) and dict(group.labels)["zone"] == "z"
    assert dict(group.labels)["__meta_filepath"] == str(tmp_path / "a.yml")
    assert read_sd_file(str(tmp_path / "b.json"))[0].targets == ("h:2",)
    with pytest.raises(ValueError):
        read_sd_file(str(tmp_path / "bad.json"))


def test_invalid_config_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        PrometheusReceiverConfig(config={"scrape_configs": "nope"}).prometheus()
