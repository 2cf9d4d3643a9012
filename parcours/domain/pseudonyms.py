"""Pseudonyms and cursors of the funder feed (L6353-10), as pure functions of a secret key.

A holder's pseudonym for one funder is HMAC-SHA256(key, funder_id || holder_id), truncated and written in base32:
stable for that funder (it can follow one holder across its files and over time) but different for every
other funder, so two funders cannot link their feeds without the key, which never leaves the service (settings or
a key file in the data folder, never the database). The two ids are joined with a NUL byte, which no id holds,
so that ("F1", "2H") and ("F12", "H") never hash the same text.

A feed cursor is the id of the last event delivered, signed for the funder that asked: a client can only hand
back a cursor the service gave to that funder; anything else is refused (``BadCursor``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PSEUDONYM_CHARS = 26  # 130 bits of the 256: far from any collision in 40 million holders
CURSOR_SIGNATURE_CHARS = 16


class BadCursor(ValueError):
    """A cursor the service did not give to this funder (malformed, altered, or another funder's)."""


def _mac(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, b"\x00".join(p.encode("utf-8") for p in parts), hashlib.sha256).digest()


def _b32(digest: bytes, chars: int) -> str:
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:chars]


def holder_pseudonym(key: bytes, funder_id: str, holder_id: str) -> str:
    """The holder as ``funder_id`` sees them: 26 base32 characters, the same at every call for this funder."""
    return _b32(_mac(key, "pseudonym", funder_id, holder_id), PSEUDONYM_CHARS)


def make_cursor(key: bytes, funder_id: str, last_event_id: int) -> str:
    """The opaque cursor after event ``last_event_id`` of ``funder_id``'s feed."""
    signature = _b32(_mac(key, "cursor", funder_id, str(last_event_id)), CURSOR_SIGNATURE_CHARS)
    return f"{last_event_id}.{signature}"


def read_cursor(key: bytes, funder_id: str, cursor: str) -> int:
    """The last event id a cursor of ``funder_id`` stands for; ``BadCursor`` when it is not one."""
    number, _, signature = cursor.partition(".")
    if not number.isdigit() or len(number) > 12 or not signature:
        raise BadCursor("not a cursor of this feed")
    last_event_id = int(number)
    if not hmac.compare_digest(make_cursor(key, funder_id, last_event_id), cursor):
        raise BadCursor("not a cursor of this feed")
    return last_event_id
