"""The receiver in a running service: tiny in-test targets scraped for real, the test-only recorder
exporter receiving what a pipeline would; start times, resets, staleness, dead targets, file_sd,
authentication and TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.confmap import resolve
from collector.service import Service
from tests.components import JOURNAL, TestExporter, registry_with_test_components
from tests.conftest import free_port
from tests.receivers.prometheus.helpers import OPENMETRICS, Point, TinyTarget, batch_points, by_name

RECORDER = "exporter recorder (metrics)"


def config_yaml(scrape_configs: str, global_: str = "") -> str:
    return f"""
receivers:
  prometheus:
    config:
      {global_}
      scrape_configs:
{scrape_configs}
exporters: {{recorder: }}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [recorder]}}
"""


def job(
    name: str,
    targets: list[str],
    extra: str = "",
    interval: str = "100ms",
    labels: dict[str, str] | None = None,
) -> str:
    group = {"targets": targets, **({"labels": labels} if labels else {})}
    lines = [
        f"        - job_name: {name}",
        f"          scrape_interval: {interval}",
        f"          static_configs: [{json.dumps(group)}]",
    ]
    lines += [f"          {line}" for line in extra.strip().splitlines()] if extra.strip() else []
    return "\n".join(lines)


@asynccontextmanager
async def running(tmp_path: Path, yaml_text: str) -> AsyncIterator[Service]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text)
    service = Service(lambda: resolve([str(path)]), registry_with_test_components())
    await service.start()
    try:
        yield service
    finally:
        await service.shutdown()


def recorder() -> TestExporter:
    return JOURNAL.exporters[RECORDER]


def scrapes(job_name: str | None = None) -> list[list[Point]]:
    """The recorded batches as point lists (optionally only those of one job)."""
    out = [batch_points(b) for b in recorder().batches]
    if job_name is not None:
        out = [[p for p in points if p.resource["service.name"] == job_name] for points in out]
        out = [points for points in out if points]
    return out


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 (the condition is another thread's doing)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), seconds)


def value_of(points: list[Point], name: str) -> Point:
    (point,) = by_name(points)[name]
    return point


async def test_counter_start_time_holds_across_scrapes_and_restarts_on_a_reset(tmp_path: Path) -> None:
    bodies = [f"# TYPE c_total counter\nc_total {v}\n" for v in (5, 7, 2, 3)]
    with TinyTarget(bodies) as target:
        async with running(tmp_path, config_yaml(job("app", [target.address]))):
            await until(lambda: len(recorder().batches) >= 4)
    counters = [value_of(points, "c_total") for points in scrapes()[:4]]
    assert [p.value for p in counters] == [5.0, 7.0, 2.0, 3.0]
    assert [p.start for p in counters] == [counters[0].time] * 2 + [counters[2].time] * 2
    assert all(p.time > q.time for p, q in zip(counters[1:], counters, strict=False))
    first = scrapes()[0]
    assert value_of(first, "up").value == 1.0
    assert first[0].resource["service.name"] == "app"
    assert first[0].resource["service.instance.id"] == target.address


async def test_a_vanished_series_is_marked_stale_once(tmp_path: Path) -> None:
    bodies = ["a 1\nb 2\n", "b 3\n"]
    with TinyTarget(bodies) as target:
        async with running(tmp_path, config_yaml(job("app", [target.address]))):
            await until(lambda: len(recorder().batches) >= 3)
    first, second, third = scrapes()[:3]
    assert not value_of(first, "a").stale
    assert value_of(second, "a").stale and value_of(second, "a").value == 0.0
    assert "a" not in by_name(third)


async def test_a_dead_target_reports_up_0_and_a_dying_one_marks_its_series_stale(tmp_path: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    target = TinyTarget(["a 1\n"])
    with target:
        yaml_text = config_yaml(job("dead", [nobody]) + "\n" + job("dying", [target.address]))
        async with running(tmp_path, yaml_text):
            await until(lambda: len(scrapes("dying")) >= 1 and len(scrapes("dead")) >= 1)
            target.status = 503
            await until(lambda: any(value_of(s, "up").value == 0.0 for s in scrapes("dying")))
    dead = scrapes("dead")[0]
    assert value_of(dead, "up").value == 0.0
    assert value_of(dead, "scrape_samples_scraped").value == 0.0
    dying = scrapes("dying")
    down = next(i for i, s in enumerate(dying) if value_of(s, "up").value == 0.0)
    assert value_of(dying[down], "a").stale and not value_of(dying[down - 1], "a").stale


async def test_the_request_negotiates_openmetrics_and_names_path_params_and_timeout(tmp_path: Path) -> None:
    body = "# TYPE hits counter\n# UNIT hits_seconds seconds\nhits_total 4\nhits_created 1700000000\n# EOF\n"
    extra = "metrics_path: /custom\nparams: {module: [http_2xx], target: [a, b]}\nscrape_timeout: 50ms"
    with TinyTarget([body], OPENMETRICS) as target:
        async with running(tmp_path, config_yaml(job("om", [target.address], extra))):
            await until(lambda: len(recorder().batches) >= 1)
    path, headers = target.requests[0]
    assert path == "/custom?module=http_2xx&target=a&target=b"
    assert headers["accept"].startswith("application/openmetrics-text;version=1.0.0")
    assert headers["x-prometheus-scrape-timeout-seconds"] == "0.05"
    assert headers["user-agent"].startswith("airis/")
    hits = value_of(scrapes()[0], "hits_total")
    assert (hits.value, hits.start) == (4.0, 1_700_000_000 * 1_000_000_000)


async def test_relabeling_from_yaml_with_escaped_dollars(tmp_path: Path) -> None:
    extra = """
relabel_configs:
  - {source_labels: [team], regex: '(\\w+)-(\\d+)', target_label: squad, replacement: '$${1}_$$2'}
metric_relabel_configs:
  - {source_labels: [__name__], regex: 'drop_.*', action: drop}
"""
    with TinyTarget(["keep_me 1\ndrop_me 2\n"]) as target:
        yaml_text = config_yaml(job("relabel", [target.address], extra, labels={"team": "blue-42"}))
        async with running(tmp_path, yaml_text):
            await until(lambda: len(recorder().batches) >= 1)
    points = by_name(scrapes()[0])
    assert "drop_me" not in points
    assert points["keep_me"][0].attrs == {"team": "blue-42", "squad": "blue_42"}
    assert value_of(scrapes()[0], "scrape_samples_post_metric_relabeling").value == 1.0


async def test_file_sd_targets_are_reread_and_removed_targets_go_stale(tmp_path: Path) -> None:
    sd = tmp_path / "targets.json"
    with TinyTarget(["from_a 1\n"]) as a, TinyTarget(["from_b 1\n"]) as b:
        sd.write_text(json.dumps([{"targets": [a.address], "labels": {"zone": "z1"}}]))
        extra = f"file_sd_configs: [{{files: ['{tmp_path}/*.json'], refresh_interval: 100ms}}]"
        yaml_text = config_yaml(
            "\n".join(
                [
                    "        - job_name: files",
                    "          scrape_interval: 100ms",
                    f"          {extra}",
                ]
            )
        )
        async with running(tmp_path, yaml_text):
            await until(lambda: any("from_a" in by_name(s) for s in scrapes()))
            sd.write_text(json.dumps([{"targets": [b.address]}]))
            await until(lambda: any("from_b" in by_name(s) for s in scrapes()))
            await until(lambda: any(_stale_up(s, a.address) for s in scrapes()))
    from_a = next(s for s in scrapes() if "from_a" in by_name(s))
    assert value_of(from_a, "from_a").attrs == {"zone": "z1"}
    ended = next(s for s in scrapes() if _stale_up(s, a.address))
    assert value_of(ended, "from_a").stale


def _stale_up(points: list[Point], instance: str) -> bool:
    return any(p.name == "up" and p.stale and p.resource["service.instance.id"] == instance for p in points)


@pytest.mark.parametrize("how", ["basic_auth", "authorization"])
async def test_credentials_are_sent_and_wrong_ones_fail_the_scrape(tmp_path: Path, how: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    if how == "basic_auth":
        good = f"basic_auth: {{username: u, password_file: {secret}}}"
        bad = "basic_auth: {username: u, password: nope}"
        target_kwargs: dict[str, Any] = {"basic": ("u", "s3cret")}
    else:
        good = f"authorization: {{credentials_file: {secret}}}"
        bad = "authorization: {type: Bearer, credentials: nope}"
        target_kwargs = {"bearer": "s3cret"}
    with TinyTarget(["x 1\n"], **target_kwargs) as target:
        yaml_text = config_yaml(
            job("good", [target.address], good) + "\n" + job("bad", [target.address], bad)
        )
        async with running(tmp_path, yaml_text):
            await until(lambda: bool(scrapes("good")) and bool(scrapes("bad")))
    assert value_of(scrapes("good")[0], "up").value == 1.0
    assert value_of(scrapes("good")[0], "x").value == 1.0
    assert value_of(scrapes("bad")[0], "up").value == 0.0


@dataclass
class Certs:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, a server certificate for the name metrics.internal only, and a client certificate."""
    folder = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=ca",
        cwd=folder,
    )
    for name, usage, san in (
        ("server", "serverAuth", "subjectAltName=DNS:metrics.internal\n"),
        ("client", "clientAuth", ""),
    ):
        (folder / f"{name}.ext").write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n{san}")
        _openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=folder,
        )  # fmt: skip
    return Certs(
        *(str(folder / f) for f in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key"))
    )


async def test_https_targets_are_verified_with_the_ca_server_name_and_client_certificate(
    tmp_path: Path, certs: Certs
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    context.load_verify_locations(certs.ca)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
    client = f"cert_file: {certs.client_cert}, key_file: {certs.client_key}"
    jobs = {
        "verified": f"tls_config: {{ca_file: {certs.ca}, server_name: metrics.internal, {client}}}",
        "wrong_name": f"tls_config: {{ca_file: {certs.ca}, {client}}}",
        "skip_verify": f"tls_config: {{insecure_skip_verify: true, {client}}}",
        "no_client_cert": f"tls_config: {{ca_file: {certs.ca}, server_name: metrics.internal}}",
    }
    with TinyTarget(["secure 1\n"], ssl_context=context) as target:
        yaml_text = config_yaml(
            "\n".join(job(name, [target.address], f"scheme: https\n{tls}") for name, tls in jobs.items())
        )
        async with running(tmp_path, yaml_text):
            await until(lambda: all(scrapes(name) for name in jobs))
    ups = {name: value_of(scrapes(name)[0], "up").value for name in jobs}
    assert ups == {"verified": 1.0, "wrong_name": 0.0, "skip_verify": 1.0, "no_client_cert": 0.0}
    assert scrapes("verified")[0][0].resource["url.scheme"] == "https"


async def test_accepted_points_are_counted_in_internal_telemetry(tmp_path: Path) -> None:
    with TinyTarget(["a 1\nb 2\n"]) as target:
        async with running(tmp_path, config_yaml(job("app", [target.address]))) as service:
            await until(lambda: len(recorder().batches) >= 2)
            accepted = service.telemetry.get("otelcol_receiver_accepted_metric_points_total").value(
                receiver="prometheus", transport="http"
            )
    assert accepted >= 2 * (2 + 5)
