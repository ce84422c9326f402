"""The `prometheus` receiver's config: Prometheus's own `scrape_configs` format under `config`.

The collector passes `config` through to Prometheus's config loader; here it is decoded into the
dataclasses below with Prometheus's defaults and checks, each mistake reported with its key path
(`receivers::prometheus::config::scrape_configs::0::relabel_configs::1::action`). Durations use
Prometheus's notation (`30s`, `1m`, `1h30m`, `2d`, `500ms`).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any

from collector.configstruct import decode, join
from collector.errors import ConfigError, Problem
from receivers.prometheus.relabel import ACTIONS, DEFAULT_REGEX, LABEL_NAME, compile_regex

__all__ = [
    "Authorization",
    "BasicAuth",
    "FileSdConfig",
    "GlobalConfig",
    "PromConfig",
    "PrometheusReceiverConfig",
    "RelabelConfig",
    "ScrapeConfig",
    "StaticConfig",
    "TlsConfig",
    "parse_prom_duration",
    "sd_files",
]

_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?",
)
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_SD_FILE = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")
# Sections of a Prometheus config the receiver refuses, as the collector does.
_UNSUPPORTED = ("alerting", "remote_read", "remote_write", "rule_files")
_TLS_VERSIONS = ("", "TLS10", "TLS11", "TLS12", "TLS13")


def parse_prom_duration(text: str) -> float:
    """Seconds in a Prometheus duration (`1m30s`, `2d`, `0`); ValueError if `text` is not one."""
    if text == "0":
        return 0.0
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a Prometheus duration (e.g. 15s, 1m, 1h30m, 500ms)")
    return sum(float(part) * unit for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if part)


@dataclass
class StaticConfig:
    """A static target group: `host:port` addresses and labels added to each."""

    targets: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ConfigError naming every invalid label name."""
        _check_label_names(self.labels, "labels")


@dataclass
class FileSdConfig:
    """Target groups read from JSON or YAML files (globs allowed in the last path element), re-read."""

    files: list[str] = field(default_factory=list)
    refresh_interval: str = "5m"

    def validate(self) -> None:
        """Raise ConfigError naming every unusable key."""
        problems = [
            Problem(
                f"files::{i}",
                f"{name!r}: path must end in .json, .yml or .yaml (a '*' only in the file name)",
            )
            for i, name in enumerate(self.files)
            if not _SD_FILE.match(name)
        ]
        if not self.files:
            problems.append(Problem("files", "at least one file is required"))
        problems += _duration_problems(self, "refresh_interval")
        if problems:
            raise ConfigError(problems)


@dataclass
class RelabelConfig:
    """One relabeling step (Prometheus's `relabel_config`)."""

    source_labels: list[str] = field(default_factory=list)
    separator: str = ";"
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    target_label: str = ""
    replacement: str = "$1"
    action: str = "replace"

    def validate(self) -> None:
        """Raise ConfigError with Prometheus's checks of a relabel config."""
        problems: list[Problem] = []
        action = self.action.lower()
        self.action = action
        if action not in ACTIONS:
            problems.append(
                Problem("action", f"unknown relabel action {self.action!r} (one of {', '.join(ACTIONS)})")
            )
        try:
            compile_regex(self.regex)
        except re.error as err:
            problems.append(Problem("regex", f"{self.regex!r} is not a valid regular expression: {err}"))
        for i, name in enumerate(self.source_labels):
            if not LABEL_NAME.fullmatch(name):
                problems.append(Problem(f"source_labels::{i}", f"{name!r} is not a valid label name"))
        needs_target = ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
        if action in needs_target and not self.target_label:
            problems.append(Problem("target_label", f"is required for the {action} action"))
        elif action == "replace" and not _valid_target(self.target_label):
            problems.append(
                Problem("target_label", f"{self.target_label!r} is invalid for the replace action")
            )
        elif action != "replace" and action in needs_target and not LABEL_NAME.fullmatch(self.target_label):
            problems.append(
                Problem("target_label", f"{self.target_label!r} is invalid for the {action} action")
            )
        if action == "hashmod" and self.modulus <= 0:
            problems.append(Problem("modulus", "the hashmod action requires a modulus above 0"))
        if action in ("lowercase", "uppercase", "keepequal", "dropequal") and self.replacement != "$1":
            problems.append(Problem("replacement", f"cannot be set for the {action} action"))
        if action == "labelmap" and not _valid_target(self.replacement):
            problems.append(
                Problem("replacement", f"{self.replacement!r} is invalid for the labelmap action")
            )
        if action in ("labeldrop", "labelkeep") and (
            self.source_labels
            or self.target_label
            or self.modulus
            or self.separator != ";"
            or self.replacement != "$1"
        ):
            problems.append(Problem("", f"the {action} action takes only 'regex'"))
        if problems:
            raise ConfigError(problems)


_RELABEL_TARGET = re.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+")


def _valid_target(template: str) -> bool:
    if "$" in template:
        return _RELABEL_TARGET.fullmatch(template) is not None
    return LABEL_NAME.fullmatch(template) is not None


@dataclass
class BasicAuth:
    """HTTP basic authentication; the password may come from a file, read at each scrape."""

    username: str = ""
    username_file: str = ""
    password: str = ""
    password_file: str = ""

    def validate(self) -> None:
        """At most one of each value and its file."""
        problems = [
            Problem(f"{key}_file", f"at most one of {key} and {key}_file may be set")
            for key in ("username", "password")
            if getattr(self, key) and getattr(self, f"{key}_file")
        ]
        if problems:
            raise ConfigError(problems)


@dataclass
class Authorization:
    """The Authorization header: `<type> <credentials>` (credentials from a file, read at each scrape)."""

    type: str = "Bearer"
    credentials: str = ""
    credentials_file: str = ""

    def validate(self) -> None:
        """Prometheus's checks, plus the collector's: a credentials file must exist."""
        problems: list[Problem] = []
        if self.type.strip().lower() == "basic":
            problems.append(Problem("type", 'cannot be "Basic": use basic_auth instead'))
        if self.credentials and self.credentials_file:
            problems.append(
                Problem("credentials_file", "at most one of credentials and credentials_file may be set")
            )
        problems += _file_problems(self, ("credentials_file",))
        if problems:
            raise ConfigError(problems)


@dataclass
class TlsConfig:
    """How scrapes over https verify the target and present a client certificate."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    """The name sent as SNI and checked against the target's certificate."""
    insecure_skip_verify: bool = False
    min_version: str = ""
    """TLS10, TLS11, TLS12 or TLS13; empty: TLS 1.2."""

    def validate(self) -> None:
        """Certificate and key go together; the files must exist (as the collector checks)."""
        problems = _file_problems(self, ("ca_file", "cert_file", "key_file"))
        if bool(self.cert_file) != bool(self.key_file):
            missing = "key_file" if self.cert_file else "cert_file"
            problems.append(Problem(missing, "a client certificate needs both cert_file and key_file"))
        if self.min_version not in _TLS_VERSIONS:
            problems.append(
                Problem("min_version", f"{self.min_version!r} is not one of TLS10, TLS11, TLS12, TLS13")
            )
        if problems:
            raise ConfigError(problems)


@dataclass
class GlobalConfig:
    """Defaults for every scrape config, and labels added to every sample."""

    scrape_interval: str = "1m"
    scrape_timeout: str = ""
    """Empty: 10s, but at most the scrape interval (as Prometheus infers it)."""
    evaluation_interval: str = "1m"
    """Accepted for Prometheus configs; the receiver evaluates no rules."""
    external_labels: dict[str, str] = field(default_factory=dict)

    def timeout_seconds(self) -> float:
        """The global scrape timeout: as set, else 10s but at most the scrape interval."""
        if self.scrape_timeout not in ("", "0"):
            return parse_prom_duration(self.scrape_timeout)
        return min(10.0, parse_prom_duration(self.scrape_interval))

    def validate(self) -> None:
        """Durations parse; the timeout is not above the interval; label names are valid."""
        problems = _duration_problems(self, "scrape_interval", "evaluation_interval")
        problems += _duration_problems(self, "scrape_timeout", optional=True)
        if not problems and self.timeout_seconds() > parse_prom_duration(self.scrape_interval):
            problems.append(Problem("scrape_timeout", "is greater than scrape_interval"))
        try:
            _check_label_names(self.external_labels, "external_labels")
        except ConfigError as err:
            problems += err.problems
        if problems:
            raise ConfigError(problems)


@dataclass
class ScrapeConfig:
    """One scrape job, with Prometheus's keys and defaults."""

    job_name: str = ""
    honor_labels: bool = False
    honor_timestamps: bool = True
    scrape_interval: str = ""
    """Empty: `global.scrape_interval`."""
    scrape_timeout: str = ""
    """Empty: `global.scrape_timeout`, but at most the scrape interval."""
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: dict[str, list[str]] = field(default_factory=dict)
    sample_limit: int = 0
    """More samples than this (after metric relabeling) fail the scrape; 0: no limit."""
    follow_redirects: bool = True
    static_configs: list[StaticConfig] = field(default_factory=list)
    file_sd_configs: list[FileSdConfig] = field(default_factory=list)
    relabel_configs: list[RelabelConfig] = field(default_factory=list)
    metric_relabel_configs: list[RelabelConfig] = field(default_factory=list)
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls_config: TlsConfig = field(default_factory=TlsConfig)

    def validate(self) -> None:
        """Prometheus's checks of a scrape config, and the collector's (no metric renaming)."""
        problems: list[Problem] = []
        if not self.job_name:
            problems.append(Problem("job_name", "is required"))
        if self.scheme not in ("http", "https"):
            problems.append(Problem("scheme", f"{self.scheme!r} is not http or https"))
        if not self.metrics_path.startswith("/"):
            problems.append(Problem("metrics_path", f"{self.metrics_path!r} must start with '/'"))
        if self.sample_limit < 0:
            problems.append(Problem("sample_limit", f"must not be negative, got {self.sample_limit}"))
        problems += _duration_problems(self, "scrape_interval", "scrape_timeout", optional=True)
        if self.basic_auth is not None and self.authorization is not None:
            problems.append(
                Problem("authorization", "at most one of basic_auth and authorization may be set")
            )
        for i, rule in enumerate(self.metric_relabel_configs):
            if rule.target_label == "__name__":
                problems.append(
                    Problem(
                        f"metric_relabel_configs::{i}::target_label",
                        "metric renaming using metric_relabel_configs is disallowed (as in the collector)",
                    )
                )
        if problems:
            raise ConfigError(problems)

    def interval_seconds(self, global_: GlobalConfig) -> float:
        """The scrape interval, this job's or the global one."""
        text = self.scrape_interval if self.scrape_interval not in ("", "0") else global_.scrape_interval
        return parse_prom_duration(text)

    def timeout_seconds(self, global_: GlobalConfig) -> float:
        """The scrape timeout, this job's or the global one but at most the interval."""
        if self.scrape_timeout not in ("", "0"):
            return parse_prom_duration(self.scrape_timeout)
        return min(global_.timeout_seconds(), self.interval_seconds(global_))


@dataclass
class PromConfig:
    """The decoded `config` section: the global defaults and the scrape jobs."""

    global_: GlobalConfig
    scrape_configs: list[ScrapeConfig]


@dataclass
class PrometheusReceiverConfig:
    """The `prometheus` receiver: `config` holds a Prometheus configuration (`global`, `scrape_configs`)."""

    config: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Decode `config` (ConfigError with every problem, key paths below `config`)."""
        self.prometheus()

    def prometheus(self) -> PromConfig:
        """The decoded Prometheus configuration; ConfigError (paths below `config`) if it is unusable."""
        raw = self.config
        problems: list[Problem] = []
        for key in raw:
            if key in _UNSUPPORTED:
                problems.append(Problem(join("config", key), "is not supported by the prometheus receiver"))
            elif key not in ("global", "scrape_configs"):
                problems.append(
                    Problem(join("config", key), "unknown key (valid keys here: global, scrape_configs)")
                )
        global_, global_problems = decode(GlobalConfig, raw.get("global"), "config::global")
        problems += global_problems
        jobs: list[ScrapeConfig] = []
        scrape_raw = raw.get("scrape_configs")
        if not isinstance(scrape_raw, list) or not scrape_raw:
            problems.append(Problem("config::scrape_configs", "at least one scrape config is required"))
            scrape_raw = []
        for i, item in enumerate(scrape_raw):
            job, job_problems = decode(ScrapeConfig, item, f"config::scrape_configs::{i}")
            problems += job_problems
            if job is not None:
                jobs.append(job)
        seen: dict[str, int] = {}
        for i, job in enumerate(jobs):
            if job.job_name in seen:
                problems.append(
                    Problem(
                        f"config::scrape_configs::{i}::job_name",
                        f"{job.job_name!r} is already used by another job",
                    )
                )
            seen.setdefault(job.job_name, i)
        if global_ is not None and not problems:
            for i, job in enumerate(jobs):
                if job.timeout_seconds(global_) > job.interval_seconds(global_):
                    problems.append(
                        Problem(
                            f"config::scrape_configs::{i}::scrape_timeout",
                            "is greater than the scrape interval",
                        )
                    )
        if problems or global_ is None:
            raise ConfigError(problems)
        return PromConfig(global_, jobs)


def _duration_problems(obj: object, *keys: str, optional: bool = False) -> list[Problem]:
    problems: list[Problem] = []
    for key in keys:
        value = getattr(obj, key)
        if optional and value == "":
            continue
        try:
            parse_prom_duration(value)
        except ValueError as err:
            problems.append(Problem(key, str(err)))
    return problems


def _file_problems(obj: object, keys: tuple[str, ...]) -> list[Problem]:
    return [
        Problem(key, f"cannot read {getattr(obj, key)!r}: no such file")
        for key in keys
        if getattr(obj, key) and not os.path.exists(getattr(obj, key))
    ]


def _check_label_names(labels: dict[str, str], key: str) -> None:
    problems = [
        Problem(f"{key}::{name}", f"{name!r} is not a valid label name")
        for name in labels
        if not LABEL_NAME.fullmatch(name)
    ]
    if problems:
        raise ConfigError(problems)


def sd_files(patterns: list[str]) -> list[str]:
    """The files the `files` patterns of a file_sd config name right now, sorted."""
    found: set[str] = set()
    for pattern in patterns:
        found.update(glob.glob(pattern))
    return sorted(found)
