"""Per-line syslog parsing, as the collector's stanza parser (over leodido/go-syslog) does it.

Each parser turns one frame (UTF-8 bytes) into the encoded LogRecord fields the collector derives
from it: the timestamp, severity number and text, and the attributes `appname`, `facility`,
`facility_text`, `hostname`, `message`, `msg_id`, `priority`, `proc_id`, `structured_data`
(RFC 5424: a map of SD-ID to a map of parameters) and `version` (RFC 5424), each present only when
the message has it (`-` is absent). A frame that does not parse gives None.

This is the reference path; `columnar` does the same for whole chunks at once with pyarrow.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from receivers.syslog import wire
from receivers.syslog.protocol import key_field, priority_fields

__all__ = ["LineParser", "Rfc3164Parser", "Rfc5424Parser", "parse_structured_data", "rfc5424_time"]

_PRI = rb"<(0|[1-9][0-9]?|1[0-8][0-9]|19[01])>"
_TIMESTAMP = (
    rb"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    rb"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_HEADER_5424 = (
    rb"([1-9][0-9]{0,2}) (-|" + _TIMESTAMP + rb") ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32})"
)
_SD_NAME = rb"[!#-<>-\\^-~]{1,32}"
_SD_ELEMENT = re.compile(rb"\[(" + _SD_NAME + rb")((?: " + _SD_NAME + rb'="(?:[^"\\\]]|\\["\\\]])*")*)\]')
_SD_PARAM = re.compile(rb" (" + _SD_NAME + rb')="((?:[^"\\\]]|\\["\\\]])*)"')
_SD_UNESCAPE = re.compile(rb'\\(["\\\]])')
_MONTHS = {m.encode(): i for i, m in enumerate(calendar.month_abbr) if m}
_HEADER_3164 = (
    rb" *((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?: [1-9]|0[1-9]|[12][0-9]|3[01]) "
    rb"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]) +(?:([!-9;-~]{1,255}) +)?"
    rb"(?:([!-9;-Z\\-~]{1,48})(?:\[([!-Z\\^-~]*)\])?: )?([\x20-\x7e\x80-\xff]+)\n?"
)
_CACHE_LIMIT = 4096

_KEYS = {name: key_field(name) for name in ("appname", "hostname", "message", "msg_id", "proc_id")}
_VERSIONS = {str(v).encode(): wire.int_attribute("version", v) for v in range(1, 1000)}


class LineParser(Protocol):
    """Parses one frame into encoded LogRecord fields (None: the frame is not a message of the protocol)."""

    def fields(self, line: bytes) -> bytes | None: ...


def _string(name: str, value: bytes) -> bytes:
    return wire.string_attribute(_KEYS[name], value)


class _Repeated:
    """Encoded string attributes of one key, cached (host names, app names and the like repeat)."""

    def __init__(self, name: str) -> None:
        self.key = _KEYS[name]
        self.cache: dict[bytes, bytes] = {}

    def __call__(self, value: bytes) -> bytes:
        encoded = self.cache.get(value)
        if encoded is None:
            if len(self.cache) > _CACHE_LIMIT:
                self.cache.clear()
            encoded = self.cache[value] = wire.string_attribute(self.key, value)
        return encoded


def parse_structured_data(text: bytes) -> tuple[dict[str, dict[str, str]], int] | None:
    """The SD-ELEMENTs at the start of `text` and where they end; None if malformed or an SD-ID repeats."""
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while text[pos : pos + 1] == b"[":
        match = _SD_ELEMENT.match(text, pos)
        if match is None:
            return None
        sd_id = match.group(1).decode()
        if sd_id in elements:
            return None
        params: dict[str, str] = {}
        for param in _SD_PARAM.finditer(match.group(2)):
            value = param.group(2)
            if b"\\" in value:
                value = _SD_UNESCAPE.sub(rb"\1", value)
            params[param.group(1).decode()] = value.decode()
        elements[sd_id] = params
        pos = match.end()
    return (elements, pos) if pos else None


_SECONDS: dict[bytes, int] = {}


def rfc5424_time(text: bytes) -> int | None:
    """Unix nanoseconds of an RFC 3339 timestamp (as matched by the header); None if no such date exists."""
    head = text[:19]
    seconds = _SECONDS.get(head)
    if seconds is None:
        try:
            moment = datetime(
                int(head[0:4]),
                int(head[5:7]),
                int(head[8:10]),
                int(head[11:13]),
                int(head[14:16]),
                int(head[17:19]),
            )
        except ValueError:  # 02-30 and the like
            return None
        if len(_SECONDS) > _CACHE_LIMIT:
            _SECONDS.clear()
        seconds = _SECONDS[head] = calendar.timegm(moment.timetuple())
    zone = 19
    nanos = 0
    if text[19:20] == b".":
        zone = 20
        while text[zone : zone + 1].isdigit():
            zone += 1
        nanos = int(text[20:zone].ljust(9, b"0"))
    if text[zone : zone + 1] != b"Z":
        offset = int(text[zone + 1 : zone + 3]) * 3600 + int(text[zone + 4 : zone + 6]) * 60
        seconds -= offset if text[zone : zone + 1] == b"+" else -offset
    return seconds * 1_000_000_000 + nanos


class Rfc5424Parser:
    """RFC 5424 messages (optionally behind an RFC 6587 octet count, optionally without PRI)."""

    def __init__(self, octet_counting: bool = False, allow_skip_pri_header: bool = False) -> None:
        prefix = rb"(?:[1-9][0-9]* )?" if octet_counting else b""
        pri = rb"(?:" + _PRI + rb")?" if allow_skip_pri_header else _PRI
        self._header = re.compile(prefix + pri + _HEADER_5424 + b" ", re.S)
        self._sd_cache: dict[bytes, bytes | None] = {}
        self._hostname, self._appname = _Repeated("hostname"), _Repeated("appname")
        self._proc_id, self._msg_id = _Repeated("proc_id"), _Repeated("msg_id")

    def fields(self, line: bytes) -> bytes | None:
        """Encoded fields of one RFC 5424 frame, None if it is not one."""
        match = self._header.match(line)
        if match is None:
            return None
        pri, version, timestamp, hostname, appname, proc_id, msg_id = match.groups()
        rest = line[match.end() :]
        if rest[:1] == b"-":
            sd = b""
            after = rest[1:]
        else:
            sd_end = self._structured_data(rest)
            if sd_end is None:
                return None
            sd, after = sd_end
        if after and after[:1] != b" ":
            return None
        parts = []
        if timestamp != b"-":
            nanos = rfc5424_time(timestamp)
            if nanos is None:
                return None
            parts.append(wire.TIME + wire.fixed64(nanos))
        if pri is not None:
            parts.append(priority_fields(int(pri)))
        parts.append(_VERSIONS[version])
        if hostname != b"-":
            parts.append(self._hostname(hostname))
        if appname != b"-":
            parts.append(self._appname(appname))
        if proc_id != b"-":
            parts.append(self._proc_id(proc_id))
        if msg_id != b"-":
            parts.append(self._msg_id(msg_id))
        parts.append(sd)
        if len(after) > 1:
            parts.append(_string("message", after[1:]))
        return b"".join(parts)

    def _structured_data(self, rest: bytes) -> tuple[bytes, bytes] | None:
        """The encoded `structured_data` attribute and the text after it; None if malformed."""
        parsed = parse_structured_data(rest)
        if parsed is None:
            return None
        elements, end = parsed
        section = rest[:end]
        encoded = self._sd_cache.get(section)
        if encoded is None:
            if len(self._sd_cache) > _CACHE_LIMIT:
                self._sd_cache.clear()
            encoded = self._sd_cache[section] = wire.kvlist_attribute("structured_data", elements)
        return encoded, rest[end:]


class Rfc3164Parser:
    """RFC 3164 (BSD) messages: the year is the current one in `location` (the previous one if that
    would put the message more than 7 days in the future, as stanza does)."""

    def __init__(self, location: str = "UTC", allow_skip_pri_header: bool = False) -> None:
        pri = rb"(?:" + _PRI + rb")?" if allow_skip_pri_header else _PRI
        self._header = re.compile(pri + _HEADER_3164 + rb"\Z", re.S)
        self._zone = ZoneInfo(location)
        self._times: dict[bytes, int] = {}
        self._times_minute = -1

    def fields(self, line: bytes) -> bytes | None:
        """Encoded fields of one RFC 3164 frame, None if it is not one."""
        match = self._header.match(line)
        if match is None:
            return None
        pri, timestamp, hostname, tag, content, message = match.groups()
        parts = [wire.TIME + wire.fixed64(self.time(timestamp))]
        if pri is not None:
            parts.append(priority_fields(int(pri)))
        if hostname is not None:
            parts.append(_string("hostname", hostname))
        if tag is not None:
            parts.append(_string("appname", tag))
        if content:
            parts.append(_string("proc_id", content))
        parts.append(_string("message", message))
        return b"".join(parts)

    def time(self, stamp: bytes, now: datetime | None = None) -> int:
        """Unix nanoseconds of `Mmm dd hh:mm:ss` in the configured zone and the inferred year."""
        moment = now or datetime.now(self._zone)
        minute = int(moment.timestamp()) // 60
        if minute != self._times_minute or now is not None:
            self._times.clear()
            self._times_minute = minute
        cached = self._times.get(stamp)
        if cached is not None:
            return cached
        month, day = _MONTHS[stamp[:3]], int(stamp[4:6])
        hour, minutes, seconds = int(stamp[7:9]), int(stamp[10:12]), int(stamp[13:15])

        def local(year: int) -> datetime:
            # Day overflow (Feb 29 of a common year) rolls into the next month, as Go's time.Date does.
            first = datetime(year, month, 1, hour, minutes, seconds, tzinfo=self._zone)
            return first + timedelta(days=day - 1)

        when = local(moment.year)
        if when > moment + timedelta(days=7):
            when = local(moment.year - 1)
        nanos = int(when.astimezone(UTC).timestamp()) * 1_000_000_000
        self._times[stamp] = nanos
        return nanos
