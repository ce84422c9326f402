"""The opaque search cursor: where the next page starts, checksummed and bound to its query.

A cursor holds the last record's (Timestamp, tie), how many records with exactly that key the
pages so far returned (`skip`), and whether other records share its timestamp (`done` when none
does): the next page reads the rest of that timestamp's records, tie <= the cursor's and skipping
`skip` of those equal to it, then older ones. It carries a fingerprint of the query's other parameters and a keyed BLAKE2b checksum over
both, so an edited, truncated or foreign cursor is refused with 400. The key is not a secret: a
cursor only says where a page starts, so a forged one reveals nothing the query could not ask for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from backend.service import BadRequestError

VERSION = 1
MAX_SKIP = 1_000_000
"""The most equal-keyed records a cursor may skip."""
_LAYOUT = struct.Struct(">BBqQI8s")
_CHECKSUM_BYTES = 12
_KEY = b"airis logs cursor"


@dataclass(frozen=True)
class Cursor:
    """The next page: records with (Timestamp, tie) <= (time_ns, tie), less `skip` of those equal to it;
    `done`: no record after the cursor has its timestamp."""

    time_ns: int
    tie: int
    skip: int
    done: bool = False

    def encode(self, fingerprint: bytes) -> str:
        """The cursor as URL-safe text, bound to the query with `fingerprint`."""
        payload = _LAYOUT.pack(VERSION, self.done, self.time_ns, self.tie, self.skip, fingerprint)
        raw = payload[:-8] + _checksum(payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, fingerprint: bytes, parameter: str = "cursor") -> Cursor:
        """The cursor in `text` if it is intact and was made for this query; BadRequestError otherwise."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise BadRequestError("is not a cursor this service returned", parameter) from None
        canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        if canonical != text or len(raw) != _LAYOUT.size - 8 + _CHECKSUM_BYTES:
            raise BadRequestError("is not a cursor this service returned", parameter)
        body, checksum = raw[: _LAYOUT.size - 8], raw[_LAYOUT.size - 8 :]
        version, done, time_ns, tie, skip, _ = _LAYOUT.unpack(body + fingerprint)
        if not hmac.compare_digest(checksum, _checksum(body + fingerprint)):
            raise BadRequestError(
                "was altered, or belongs to a query with other parameters (repeat the query's "
                "parameters with the cursor)",
                parameter,
            )
        if version != VERSION or done > 1 or skip > MAX_SKIP:
            raise BadRequestError("is not a cursor this service returned", parameter)
        return cls(time_ns, tie, skip, bool(done))


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_KEY, digest_size=_CHECKSUM_BYTES).digest()


__all__ = ["MAX_SKIP", "Cursor"]
