"""The `syslog` receiver: real senders (util-linux `logger`, rsyslog, TLS and raw sockets) in,
OTLP log records out, with the attributes, severities, timestamps and bodies the collector produces."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from collector.component import ComponentId, Kind, Settings
from collector.configstruct import decode
from collector.errors import RetryableError
from collector.pdata import Batch
from collector.registry import default_registry
from collector.signal import Signal
from collector.telemetry import MetricsRegistry
from collector.tlsconfig import TlsServerConfig
from receivers.syslog import FACTORY, SyslogReceiverConfig, TcpConfig, UdpConfig
from receivers.syslog.config import parse_byte_size
from receivers.syslog.framing import Framer
from receivers.syslog.parser import Rfc3164Parser
from receivers.syslog.receiver import SyslogReceiver
from receivers.syslog.records import RecordEncoder
from tests.conftest import free_port

LOGGER = shutil.which("logger")
RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
)
OPENSSL = shutil.which("openssl")
try:
    import pyarrow  # noqa: F401

    HAS_ARROW = True
except ImportError:
    HAS_ARROW = False

# The collector's own test message (pkg/stanza/operator/parser/syslog/syslogtest).
SECURE_AUTH = (
    "<86>1 2015-08-05T21:58:59.693Z 192.168.2.132 SecureAuth0 23108 ID52020 [SecureAuth@27389 "
    'UserHostAddress="192.168.2.132" Realm="SecureAuth0" UserID="Tester2" PEN="27389"] '
    "Found the user for retrieving user's profile"
)
SECURE_AUTH_ATTRIBUTES = {
    "appname": "SecureAuth0",
    "facility": 10,
    "facility_text": "authpriv",
    "hostname": "192.168.2.132",
    "message": "Found the user for retrieving user's profile",
    "msg_id": "ID52020",
    "priority": 86,
    "proc_id": "23108",
    "structured_data": {
        "SecureAuth@27389": {
            "PEN": "27389",
            "Realm": "SecureAuth0",
            "UserHostAddress": "192.168.2.132",
            "UserID": "Tester2",
        }
    },
    "version": 1,
}


def nanos(text: str) -> int:
    """Unix nanoseconds of an ISO 8601 time (microsecond precision)."""
    moment = datetime.fromisoformat(text)
    return (int(moment.timestamp()) * 1_000_000 + moment.microsecond) * 1000


# --- helpers ------------------------------------------------------------------------------------


def value(any_value: AnyValue) -> Any:
    """An AnyValue as plain Python (kvlists as dicts)."""
    kind = any_value.WhichOneof("value")
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind) if kind else None


def attributes(record: LogRecord) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in record.attributes}


@dataclass
class RecordingConsumer:
    """Keeps every batch; raises `error` instead while one is set."""

    batches: list[Batch] = field(default_factory=list)
    error: Exception | None = None

    async def consume(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        self.batches.append(batch)

    def records(self) -> list[LogRecord]:
        out: list[LogRecord] = []
        for batch in self.batches:
            request = batch.otlp()
            assert isinstance(request, ExportLogsServiceRequest)
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    out.extend(scope_logs.log_records)
        return out

    async def wait(self, count: int, seconds: float = 20) -> list[LogRecord]:
        """The records once at least `count` have arrived (fails after `seconds`)."""
        for _ in range(int(seconds * 50)):
            records = self.records()
            if len(records) >= count:
                return records
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} records, got {len(self.records())}: {self.records()}")


class NoHost:
    def extension(self, id: ComponentId) -> Any:
        raise KeyError(id)

    def extensions(self) -> dict[ComponentId, Any]:
        return {}

    @property
    def status(self) -> Any:
        return "running"


@dataclass
class Running:
    receiver: SyslogReceiver
    consumer: RecordingConsumer
    registry: MetricsRegistry

    @property
    def port(self) -> int:
        return self.receiver.port

    def counter(self, name: str, transport: str = "tcp") -> float:
        try:
            return self.registry.get(name).value(receiver="syslog", transport=transport)
        except KeyError:
            return 0.0


async def start(config: SyslogReceiverConfig) -> Running:
    registry, consumer = MetricsRegistry(), RecordingConsumer()
    settings = Settings(ComponentId("syslog"), Kind.RECEIVER, registry, logging.getLogger("test.syslog"))
    receiver = FACTORY.create(settings, config, {Signal.LOGS: consumer})
    assert isinstance(receiver, SyslogReceiver)
    await receiver.start(NoHost())
    return Running(receiver, consumer, registry)


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    """Starts receivers (TCP on a free port unless `udp=True`) and shuts them all down afterwards."""
    started: list[Running] = []

    async def make(udp: bool = False, tcp: TcpConfig | None = None, **options: Any) -> Running:
        address = "127.0.0.1:0"
        config = SyslogReceiverConfig(
            tcp=None if udp else (tcp or TcpConfig(listen_address=address)),
            udp=UdpConfig(listen_address=address, add_attributes=options.pop("add_attributes", False))
            if udp
            else None,
            **options,
        )
        config.validate()
        run = await start(config)
        started.append(run)
        return run

    yield make
    for run in started:
        await run.receiver.shutdown()


async def send_tcp(port: int, data: bytes, context: ssl.SSLContext | None = None) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def logger(port: int, *args: str) -> None:
    """util-linux logger sending one message to 127.0.0.1:port."""
    assert LOGGER is not None
    subprocess.run([LOGGER, "--server", "127.0.0.1", "--port", str(port), *args], check=True, timeout=20)


async def run_logger(port: int, *args: str) -> None:
    await asyncio.to_thread(logger, port, *args)


def encode(
    lines: list[str], config: SyslogReceiverConfig | None = None, columnar: bool = False
) -> list[LogRecord]:
    """Records of `lines` as the receiver's encoder makes them (line by line, or vectorized)."""
    config = config or SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0"))
    encoder = RecordEncoder(config)
    frames = encoder.prepare([line.encode() for line in lines])
    if columnar:
        assert encoder.columnar is not None
        encoded = encoder.columnar.encode(frames, encoder.static, 42)
    else:
        encoded = encoder.lines.encode(frames, encoder.static, 42)
    request = ExportLogsServiceRequest()
    request.ParseFromString(encoder.request(encoded))
    return [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


PATHS = [False, pytest.param(True, marks=pytest.mark.skipif(not HAS_ARROW, reason="pyarrow not installed"))]


# --- config -------------------------------------------------------------------------------------


def test_registered_as_a_builtin_receiver_for_logs() -> None:
    factory = default_registry(entry_points_too=False).get(Kind.RECEIVER, "syslog")
    assert factory is FACTORY
    assert list(FACTORY.signals) == [Signal.LOGS]


def test_config_uses_the_collector_keys_and_defaults() -> None:
    config, problems = decode(
        SyslogReceiverConfig, {"tcp": {"listen_address": "0.0.0.0:54526"}, "location": "Europe/Athens"}
    )
    assert problems == []
    assert config is not None and config.tcp is not None
    assert (config.protocol, config.on_error, config.enable_octet_counting) == ("rfc5424", "send", False)
    assert config.tcp.max_log_bytes == 1024 * 1024
    assert config.non_transparent_framing_trailer is None


def test_one_listener_is_required_and_errors_name_the_key_path() -> None:
    _, none = decode(SyslogReceiverConfig, {}, "receivers::syslog")
    _, both = decode(
        SyslogReceiverConfig,
        {"tcp": {"listen_address": "127.0.0.1:1"}, "udp": {"listen_address": "127.0.0.1:2"}},
        "receivers::syslog",
    )
    assert [str(p) for p in none] == ["receivers::syslog: exactly one of tcp or udp must be configured"]
    assert [str(p) for p in both] == ["receivers::syslog: exactly one of tcp or udp must be configured"]


def test_every_bad_value_is_reported_with_its_path() -> None:
    raw = {
        "tcp": {"max_log_size": "1KiB"},
        "protocol": "rfc3164",
        "enable_octet_counting": True,
        "location": "Mars/Olympus",
        "on_error": "ignore",
    }
    _, problems = decode(SyslogReceiverConfig, raw, "receivers::syslog")
    assert sorted(p.path for p in problems) == [
        "receivers::syslog::enable_octet_counting",
        "receivers::syslog::location",
        "receivers::syslog::on_error",
        "receivers::syslog::tcp::listen_address",
        "receivers::syslog::tcp::max_log_size",
    ]
    messages = {p.path.rpartition("::")[2]: p.message for p in problems}
    assert "send, send_quiet, drop, drop_quiet" in messages["on_error"]
    assert "at least 65536 bytes, got 1024" in messages["max_log_size"]


def test_framing_options_are_tcp_only() -> None:
    _, problems = decode(
        SyslogReceiverConfig,
        {"udp": {"listen_address": "127.0.0.1:1"}, "non_transparent_framing_trailer": "NUL"},
        "r",
    )
    assert [str(p) for p in problems] == ["r::udp: octet counting and non-transparent framing are TCP only"]


@pytest.mark.parametrize(
    ("text", "size"),
    [("65536", 65536), ("64KiB", 65536), ("1mib", 1048576), ("2MB", 2_000_000), ("1.5KiB", 1536)],
)
def test_byte_sizes_read_as_stanza_reads_them(text: str, size: int) -> None:
    assert parse_byte_size(text) == size


# --- parsing: what the collector produces -------------------------------------------------------


@pytest.mark.parametrize("columnar", PATHS)
def test_rfc5424_message_gives_the_collectors_attributes_and_raw_body(columnar: bool) -> None:
    (record,) = encode([SECURE_AUTH] * (64 if columnar else 1), columnar=columnar)[:1]
    assert attributes(record) == SECURE_AUTH_ATTRIBUTES
    assert record.body.string_value == SECURE_AUTH
    assert (record.severity_number, record.severity_text) == (9, "info")
    assert record.time_unix_nano == nanos("2015-08-05T21:58:59.693+00:00")
    assert record.observed_time_unix_nano == 42


@pytest.mark.parametrize("columnar", PATHS)
def test_syslog_severities_map_as_stanza_maps_them(columnar: bool) -> None:
    lines = [f"<{8 + severity}>1 - host app - - - text" for severity in range(8)] * (8 if columnar else 1)
    got = [(r.severity_number, r.severity_text) for r in encode(lines, columnar=columnar)[:8]]
    assert got == [
        (21, "emerg"),  # FATAL
        (19, "alert"),  # ERROR3
        (18, "crit"),  # ERROR2
        (17, "err"),  # ERROR
        (13, "warning"),  # WARN
        (10, "notice"),  # INFO2
        (9, "info"),  # INFO
        (5, "debug"),  # DEBUG
    ]


@pytest.mark.parametrize("columnar", PATHS)
def test_nil_values_are_absent_and_timestamps_keep_their_offset_and_microseconds(columnar: bool) -> None:
    lines = [
        "<0>1 - - - - - -",
        "<191>12 2003-08-24T05:14:15.000003-07:00 h a p m - msg",
        "<13>1 2003-10-11T22:14:15+05:30 - - - - -  two leading spaces",
    ] * (22 if columnar else 1)
    nil, full, offset = encode(lines, columnar=columnar)[:3]
    assert attributes(nil) == {"priority": 0, "facility": 0, "facility_text": "kern", "version": 1}
    assert nil.time_unix_nano == 0
    assert attributes(full) == {
        "priority": 191,
        "facility": 23,
        "facility_text": "local7",
        "version": 12,
        "hostname": "h",
        "appname": "a",
        "proc_id": "p",
        "msg_id": "m",
        "message": "msg",
    }
    assert full.time_unix_nano == nanos("2003-08-24T05:14:15.000003-07:00")
    assert offset.time_unix_nano == nanos("2003-10-11T22:14:15+05:30")
    assert attributes(offset)["message"] == " two leading spaces"


@pytest.mark.parametrize("columnar", PATHS)
def test_structured_data_escapes_and_several_elements(columnar: bool) -> None:
    line = r'<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a@1 q="say \"hi\"" b="x\]y" c="back\\slash"][empty@2] bom'
    (record,) = encode([line] * (64 if columnar else 1), columnar=columnar)[:1]
    assert attributes(record)["structured_data"] == {
        "a@1": {"q": 'say "hi"', "b": "x]y", "c": "back\\slash"},
        "empty@2": {},
    }
    assert attributes(record)["message"] == "bom"


@pytest.mark.parametrize("columnar", PATHS)
def test_malformed_lines_are_sent_with_their_body_and_a_parse_error(columnar: bool) -> None:
    bad = [
        "not syslog at all",
        "<192>1 - - - - - - pri too big",
        "<13>1 2003-02-30T22:14:15Z - - - - - no such day",
        "<13>1 - - - - - [dup@1][dup@1] repeated SD-ID",
        '<13>1 - - - - - [a@1 x="unescaped]"] bad SD',
        "<13>1 - - - - -x no space after SD",
        "<13>0 - - - - - - version 0",
        "<13>1 - " + "h" * 256 + " a - - - hostname too long",
    ]
    good = "<13>1 - host app - - - fine"
    lines = [*bad, good] * (8 if columnar else 1)
    records = encode(lines, columnar=columnar)[: len(bad) + 1]
    for line, record in zip(bad, records, strict=False):
        assert (record.body.string_value, attributes(record), record.time_unix_nano) == (
            line,
            {"syslog.parse_error": "not a valid rfc5424 message"},
            0,
        )
        assert record.severity_number == 0
    assert attributes(records[-1])["message"] == "fine"


@pytest.mark.parametrize("columnar", PATHS)
def test_on_error_drop_drops_malformed_lines(columnar: bool) -> None:
    config = SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0"), on_error="drop")
    lines = ["garbage", "<13>1 - host app - - - fine"] * (32 if columnar else 1)
    records = encode(lines, config, columnar=columnar)
    assert {attributes(r)["message"] for r in records} == {"fine"}
    assert len(records) == len(lines) // 2


@pytest.mark.skipif(not HAS_ARROW, reason="pyarrow not installed")
@pytest.mark.parametrize("octets", [False, True])
def test_vectorized_and_per_line_paths_give_the_same_records(octets: bool) -> None:
    lines = [
        SECURE_AUTH,
        "<13>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed on /dev/pts/8",
        '<165>1 2003-10-11T22:14:15.003Z host evntslog 123 ID47 [exampleSDID@32473 iut="3"] \ufeffcafé',
        "<13>1 2003-10-11T22:14:15.003Z host app - - - multi\nline",
        "<13>1 - - - - - -",
        "<13>1 - - - - - - ",
        "<13>1 - - - - - - -",
        "garbage",
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
        '<13>1 2003-10-11T22:14:15.003Z host app - - [x@1 a="b"]',
    ]
    if octets:
        lines = [f"{len(line.encode())} {line}" for line in lines] + [
            "99999 <13>1 - - - - - - longer than max_octets"
        ]
    config = SyslogReceiverConfig(
        tcp=TcpConfig(listen_address="127.0.0.1:0"), enable_octet_counting=octets, attributes={"env": "test"}
    )
    corpus = lines * 10
    assert encode(corpus, config, columnar=True) == encode(corpus, config, columnar=False)


@pytest.mark.skipif(not HAS_ARROW, reason="pyarrow not installed")
def test_allow_skip_pri_header_leaves_out_priority_facility_and_severity() -> None:
    config = SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0"), allow_skip_pri_header=True)
    lines = ["1 2015-08-05T21:58:59.693Z host app - - - no pri", "<14>1 - host app - - - with pri"] * 40
    records = encode(lines, config, columnar=True)
    assert records == encode(lines, config, columnar=False)
    without, with_pri = records[:2]
    assert attributes(without) == {"version": 1, "hostname": "host", "appname": "app", "message": "no pri"}
    assert (without.severity_number, without.severity_text) == (0, "")
    assert attributes(with_pri)["priority"] == 14


def test_without_pyarrow_the_per_line_path_does_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "receivers.syslog.columnar", None)  # as if pyarrow were not installed
    config = SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0"))
    encoder = RecordEncoder(config)
    assert encoder.columnar is None
    frames = encoder.prepare([SECURE_AUTH.encode()] * 100)
    request = ExportLogsServiceRequest()
    request.ParseFromString(encoder.request(encoder.encode(frames)))
    records = request.resource_logs[0].scope_logs[0].log_records
    assert len(records) == 100
    assert all(attributes(r) == SECURE_AUTH_ATTRIBUTES for r in records)


def test_rfc3164_takes_the_year_and_zone_from_location() -> None:
    parser = Rfc3164Parser("America/Detroit")
    detroit = ZoneInfo("America/Detroit")
    now = datetime(2026, 3, 10, 12, 0, tzinfo=detroit)
    assert (
        parser.time(b"Mar  9 08:30:00", now)
        == int(datetime(2026, 3, 9, 8, 30, tzinfo=detroit).timestamp()) * 10**9
    )
    # More than 7 days ahead this year: last year's.
    assert (
        parser.time(b"Dec 31 23:59:59", now)
        == int(datetime(2025, 12, 31, 23, 59, 59, tzinfo=detroit).timestamp()) * 10**9
    )


def test_rfc3164_fields_are_the_collectors() -> None:
    config = SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0"), protocol="rfc3164")
    with_tag, bare = encode(
        [
            "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
            "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        ],
        config,
    )
    assert attributes(with_tag) == {
        "priority": 34,
        "facility": 4,
        "facility_text": "auth",
        "hostname": "mymachine",
        "appname": "su",
        "proc_id": "123",
        "message": "'su root' failed",
    }
    assert (with_tag.severity_number, with_tag.severity_text) == (18, "crit")
    assert attributes(bare)["hostname"] == "10.0.0.99"
    assert attributes(bare)["message"] == "Use the BFG!"
    assert (
        datetime.fromtimestamp(bare.time_unix_nano / 1e9, UTC).strftime("%m-%d %H:%M:%S") == "02-05 17:32:18"
    )


def test_invalid_utf8_is_replaced_as_the_collectors_decoder_does() -> None:
    encoder = RecordEncoder(SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0")))
    assert encoder.prepare([b"  <13>1 - - - - - - caf\xe9 \r", b" \t ", b""]) == [
        "<13>1 - - - - - - caf\ufffd".encode()
    ]


# --- framing ------------------------------------------------------------------------------------


def test_lf_frames_span_reads_and_long_lines_are_cut_and_skipped() -> None:
    framer = Framer("lf", max_size=10)
    assert framer.feed(b"one\ntw") == [b"one"]
    assert framer.feed(b"o\n") == [b"two"]
    assert framer.feed(b"0123456789ABC") == [b"0123456789"]  # cut at max_size ...
    assert framer.feed(b"DEF\nnext\n") == [b"next"]  # ... and the rest of it skipped
    assert framer.feed(b"tail") == []
    assert framer.finish() == [b"tail"]
    assert framer.truncated == 1


def test_octet_counted_frames_keep_their_prefix_and_resync_on_plain_lines() -> None:
    framer = Framer("octet", max_size=64)
    assert framer.feed(b"5 hello3 ab") == [b"5 hello"]
    assert framer.feed(b"c\n7 a\nb cde") == [b"3 abc", b"7 a\nb cde"]
    assert framer.feed(b"<13>1 plain line\n2 ok") == [b"<13>1 plain line", b"2 ok"]
    assert framer.feed(b"100 " + b"x" * 70) == [b"100 " + b"x" * 60]  # cut at 64 bytes
    assert framer.feed(b"x" * 30 + b"2 hi") == [b"2 hi"]  # the rest of the 100 skipped


def test_nul_trailer_frames_may_hold_newlines() -> None:
    framer = Framer("nul", max_size=64)
    assert framer.feed(b"first\nline\0second\0thi") == [b"first\nline", b"second"]


# --- real senders -------------------------------------------------------------------------------


@pytest.mark.skipif(LOGGER is None, reason="util-linux logger not installed")
async def test_logger_over_tcp_rfc5424(receivers: Callable[..., Any]) -> None:
    run = await receivers()
    await run_logger(
        run.port, "--tcp", "--rfc5424", "-t", "myapp", "-p", "local3.warning", "--msgid", "M1", "hello tcp"
    )
    (record,) = await run.consumer.wait(1)
    attrs = attributes(record)
    assert attrs["appname"] == "myapp"
    assert attrs["msg_id"] == "M1"
    assert attrs["hostname"] == socket.gethostname()
    assert attrs["message"] == "hello tcp"
    assert (attrs["priority"], attrs["facility"], attrs["facility_text"]) == (19 * 8 + 4, 19, "local3")
    assert attrs["structured_data"]["timeQuality"]["tzKnown"] == "1"
    assert (record.severity_number, record.severity_text) == (13, "warning")
    assert record.body.string_value.startswith("<156>1 ")
    assert abs(record.time_unix_nano - record.observed_time_unix_nano) < 60 * 10**9
    assert run.counter("otelcol_receiver_accepted_log_records_total") == 1


@pytest.mark.skipif(LOGGER is None, reason="util-linux logger not installed")
async def test_logger_octet_counting(receivers: Callable[..., Any]) -> None:
    run = await receivers(enable_octet_counting=True)
    await run_logger(run.port, "--tcp", "--rfc5424", "--octet-count", "-t", "octets", "counted message")
    (record,) = await run.consumer.wait(1)
    length, _, rest = record.body.string_value.partition(" ")
    assert int(length) == len(rest.encode()) and rest.startswith("<13>1 ")
    assert attributes(record)["message"] == "counted message"
    assert attributes(record)["appname"] == "octets"


@pytest.mark.skipif(LOGGER is None, reason="util-linux logger not installed")
async def test_logger_over_udp_rfc3164_with_net_attributes(receivers: Callable[..., Any]) -> None:
    run = await receivers(udp=True, protocol="rfc3164", add_attributes=True)
    await run_logger(
        run.port, "--udp", "--rfc3164", "-t", "oldapp", "--id=4242", "-p", "daemon.err", "bsd style"
    )
    (record,) = await run.consumer.wait(1)
    attrs = attributes(record)
    assert (attrs["appname"], attrs["proc_id"], attrs["message"]) == ("oldapp", "4242", "bsd style")
    assert (attrs["facility_text"], record.severity_text, record.severity_number) == ("daemon", "err", 17)
    assert attrs["net.transport"] == "IP.UDP"
    assert attrs["net.peer.ip"] == "127.0.0.1"
    assert attrs["net.host.port"] == str(run.port)
    assert int(attrs["net.peer.port"]) > 0
    assert attrs["net.peer.name"] in ("localhost", "127.0.0.1", socket.getfqdn("127.0.0.1"))
    assert run.counter("otelcol_receiver_accepted_log_records_total", "udp") == 1


@pytest.mark.skipif(LOGGER is None, reason="util-linux logger not installed")
async def test_logger_over_udp_rfc5424(receivers: Callable[..., Any]) -> None:
    run = await receivers(udp=True)
    await run_logger(run.port, "--udp", "--rfc5424=notq", "-t", "udp5424", "datagram")
    (record,) = await run.consumer.wait(1)
    assert "structured_data" not in attributes(record)
    assert attributes(record)["message"] == "datagram"


async def test_udp_datagrams_may_hold_several_lines(receivers: Callable[..., Any]) -> None:
    run = await receivers(udp=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"<13>1 - host app - - - one\n<13>1 - host app - - - two\n", ("127.0.0.1", run.port))
        sock.sendto(b"<13>1 - host app - - - three", ("127.0.0.1", run.port))
    records = await run.consumer.wait(3)
    assert [attributes(r)["message"] for r in records] == ["one", "two", "three"]


@pytest.mark.skipif(RSYSLOGD is None or LOGGER is None, reason="rsyslog or logger not installed")
async def test_rsyslog_forwards_octet_counted_rfc5424(receivers: Callable[..., Any], tmp_path: Path) -> None:
    run = await receivers(enable_octet_counting=True)
    udp_port = free_port()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{tmp_path}")\n'
        'module(load="imudp")\n'
        f'input(type="imudp" address="127.0.0.1" port="{udp_port}")\n'
        f'action(type="omfwd" target="127.0.0.1" port="{run.port}" protocol="tcp" '
        'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n'
    )
    assert RSYSLOGD is not None
    rsyslog = subprocess.Popen(  # noqa: ASYNC220 (started once; the test then waits on it asynchronously)
        [RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # rsyslog's UDP input is up when a message sent to it comes out
            await run_logger(
                udp_port, "--udp", "--rfc5424", "-t", "viarsyslog", "-p", "user.notice", "relayed"
            )
            if any(attributes(r).get("appname") == "viarsyslog" for r in run.consumer.records()):
                break
            await asyncio.sleep(0.1)
        relayed = [r for r in run.consumer.records() if attributes(r).get("appname") == "viarsyslog"]
    finally:
        rsyslog.terminate()
        rsyslog.wait(20)
    assert relayed, f"nothing relayed; received {run.consumer.records()}"
    record = relayed[0]
    attrs = attributes(record)
    assert attrs["message"] == "relayed"
    assert (attrs["priority"], record.severity_text) == (13, "notice")
    length, _, rest = record.body.string_value.partition(" ")
    assert (
        int(length) == len(rest.encode()) + 1
    )  # rsyslog's template ends in LF, trimmed as the collector does
    assert run.counter("airis_receiver_malformed_log_records_total") == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI)."""
    if OPENSSL is None:
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            OPENSSL,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_tls(receivers: Callable[..., Any], certificate: tuple[str, str]) -> None:
    cert, key = certificate
    tcp = TcpConfig(listen_address="127.0.0.1:0", tls=TlsServerConfig(cert_file=cert, key_file=key))
    run = await receivers(tcp=tcp)
    context = ssl.create_default_context(cafile=cert)
    await send_tcp(run.port, b"<14>1 2024-01-01T00:00:00Z host tlsapp - - - over tls\n", context)
    (record,) = await run.consumer.wait(1)
    assert attributes(record)["message"] == "over tls"
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(b"<14>1 - - - - - - plaintext\n")
    await writer.drain()
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(reader.read(), 20)  # the server hangs up: not a TLS client hello
    writer.close()
    assert len(run.consumer.records()) == 1


async def test_a_line_longer_than_max_log_size_is_cut_and_the_connection_goes_on(
    receivers: Callable[..., Any],
) -> None:
    run = await receivers(tcp=TcpConfig(listen_address="127.0.0.1:0", max_log_size="64KiB"))
    long = b"<13>1 - host app - - - " + b"x" * 100_000
    await send_tcp(run.port, long + b"\n<13>1 - host app - - - after\n")
    first, after = await run.consumer.wait(2)
    assert first.body.string_value.encode() == long[: 64 * 1024]
    assert attributes(first)["message"] == "x" * (64 * 1024 - 23)
    assert attributes(after)["message"] == "after"
    assert run.counter("airis_receiver_truncated_log_records_total") == 1


async def test_nul_trailer_over_tcp(receivers: Callable[..., Any]) -> None:
    run = await receivers(non_transparent_framing_trailer="NUL")
    await send_tcp(run.port, b"<13>1 - host app - - - first\nhalf\0<13>1 - host app - - - second\0")
    first, second = await run.consumer.wait(2)
    assert attributes(first)["message"] == "first\nhalf"
    assert attributes(second)["message"] == "second"


async def test_malformed_lines_are_counted_and_the_rest_goes_through(receivers: Callable[..., Any]) -> None:
    run = await receivers(on_error="drop")
    await send_tcp(run.port, b"garbage\n<13>1 - host app - - - ok\n\n\x00\xff\n")
    await run.consumer.wait(1)
    await asyncio.sleep(0.1)
    assert [attributes(r)["message"] for r in run.consumer.records()] == ["ok"]
    assert run.counter("airis_receiver_malformed_log_records_total") == 2
    assert run.counter("otelcol_receiver_accepted_log_records_total") == 1


async def test_one_batch_per_chunk(receivers: Callable[..., Any]) -> None:
    run = await receivers()
    lines = b"".join(b"<13>1 - host app - - - line %d\n" % i for i in range(500))
    await send_tcp(run.port, lines)
    records = await run.consumer.wait(500)
    assert [attributes(r)["message"] for r in records] == [f"line {i}" for i in range(500)]
    assert len(run.consumer.batches) < 500


async def test_a_refused_batch_is_dropped_and_counted_and_the_connection_stays(
    receivers: Callable[..., Any],
) -> None:
    run = await receivers()
    run.consumer.error = RetryableError("full")
    _, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(b"<13>1 - host app - - - refused\n")
    await writer.drain()
    for _ in range(500):
        if run.counter("otelcol_receiver_refused_log_records_total"):
            break
        await asyncio.sleep(0.01)
    assert run.counter("otelcol_receiver_refused_log_records_total") == 1
    run.consumer.error = None
    writer.write(b"<13>1 - host app - - - accepted\n")
    await writer.drain()
    (record,) = await run.consumer.wait(1)
    writer.close()
    assert attributes(record)["message"] == "accepted"


async def test_static_attributes_resource_and_tcp_net_attributes(receivers: Callable[..., Any]) -> None:
    tcp = TcpConfig(listen_address="127.0.0.1:0", add_attributes=True)
    run = await receivers(tcp=tcp, attributes={"team": "ops"}, resource={"service.name": "syslog-in"})
    await send_tcp(run.port, b"<13>1 - host app - - - tagged\n")
    (record,) = await run.consumer.wait(1)
    attrs = attributes(record)
    assert attrs["team"] == "ops"
    assert (attrs["net.transport"], attrs["net.peer.ip"], attrs["net.host.port"]) == (
        "IP.TCP",
        "127.0.0.1",
        str(run.port),
    )
    request = run.consumer.batches[0].otlp()
    assert isinstance(request, ExportLogsServiceRequest)
    resource = {kv.key: value(kv.value) for kv in request.resource_logs[0].resource.attributes}
    assert resource == {"service.name": "syslog-in"}


async def test_shutdown_is_idempotent_and_safe_without_start() -> None:
    config = SyslogReceiverConfig(tcp=TcpConfig(listen_address="127.0.0.1:0"))
    settings = Settings(ComponentId("syslog"), Kind.RECEIVER, MetricsRegistry(), logging.getLogger("t"))
    receiver = FACTORY.create(settings, config, {Signal.LOGS: RecordingConsumer()})
    await receiver.shutdown()
    await receiver.start(NoHost())
    await receiver.shutdown()
    await receiver.shutdown()


async def test_a_busy_port_fails_start_naming_the_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        config = SyslogReceiverConfig(tcp=TcpConfig(listen_address=address))
        settings = Settings(ComponentId("syslog"), Kind.RECEIVER, MetricsRegistry(), logging.getLogger("t"))
        receiver = FACTORY.create(settings, config, {Signal.LOGS: RecordingConsumer()})
        with pytest.raises(OSError, match=address):
            await receiver.start(NoHost())


@pytest.mark.skipif(LOGGER is None, reason="util-linux logger not installed")
def test_airis_process_with_syslog_receiver(tmp_path: Path) -> None:
    """The whole process: YAML config, the registry, a pipeline to the test recorder."""
    from tests.e2e.airis_process import AirisProcess, wait_until

    port, dump = free_port(), tmp_path / "received.txt"
    agent = AirisProcess(
        tmp_path,
        "agent",
        f"""
receivers: {{syslog: {{tcp: {{listen_address: "127.0.0.1:{port}"}}, protocol: rfc5424}}}}
exporters: {{recorder: {{dump: "{dump}"}}}}
extensions: {{health_check: {{}}}}
service:
  extensions: [health_check]
  pipelines: {{logs: {{receivers: [syslog], exporters: [recorder]}}}}
""",
        module="tests.run_airis",
    ).start()
    try:
        logger(port, "--tcp", "--rfc5424", "-t", "e2e", "through the process")

        def messages() -> list[str]:
            import base64

            out = []
            for line in dump.read_text().splitlines() if dump.exists() else []:
                request = ExportLogsServiceRequest()
                request.ParseFromString(base64.b64decode(line.split()[1]))
                out += [
                    attributes(r).get("message", "")
                    for rl in request.resource_logs
                    for sl in rl.scope_logs
                    for r in sl.log_records
                ]
            return out

        assert wait_until(lambda: messages() == ["through the process"], 20), agent.log()
        assert agent.metric("otelcol_receiver_accepted_log_records_total") == 1
    finally:
        assert agent.stop() == 0, agent.log()
