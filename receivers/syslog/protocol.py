"""What the collector's syslog parser (stanza, over leodido/go-syslog) makes of PRI: names and severities.

Every parsed record carries the attributes `priority`, `facility` (ints) and `facility_text`
(RFC 5427 keyword); the severity becomes the record's SeverityNumber and SeverityText (stanza's
mapping, e.g. `emerg` -> FATAL, `notice` -> INFO2), not an attribute.
"""

from __future__ import annotations

from functools import cache

from receivers.syslog import wire

__all__ = ["FACILITY_KEYWORDS", "SEVERITY_NUMBERS", "SEVERITY_TEXTS", "key_field", "priority_fields"]

FACILITY_KEYWORDS: tuple[str, ...] = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "cron2",
    *(f"local{n}" for n in range(8)),
)
"""`facility_text` by facility code 0..23."""

SEVERITY_TEXTS: tuple[str, ...] = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
SEVERITY_NUMBERS: tuple[int, ...] = (21, 19, 18, 17, 13, 10, 9, 5)
"""OTel SeverityNumber by syslog severity: FATAL, ERROR3, ERROR2, ERROR, WARN, INFO2, INFO, DEBUG."""


@cache
def priority_fields(priority: int) -> bytes:
    """Encoded LogRecord fields for PRI 0..191: severity number and text, `priority`, `facility`, `facility_text`."""
    facility, severity = divmod(priority, 8)
    return b"".join(
        (
            wire.SEVERITY_NUMBER + wire.varint(SEVERITY_NUMBERS[severity]),
            wire.len_field(wire.SEVERITY_TEXT, SEVERITY_TEXTS[severity].encode()),
            wire.int_attribute("priority", priority),
            wire.int_attribute("facility", facility),
            wire.attribute_fields({"facility_text": FACILITY_KEYWORDS[facility]}),
        )
    )


@cache
def key_field(key: str) -> bytes:
    """The encoded `KeyValue.key` field of an attribute name."""
    return wire.len_field(wire.KEY, key.encode())
