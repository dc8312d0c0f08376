"""Image ids, object names and keys: the only grammar a client-supplied name can have.

An id is a ULID: a 48-bit millisecond timestamp (so keys sort by upload time) followed by 80
random bits from `secrets`, as 26 Crockford base32 characters. A name is `<id>.<ext>`.
Names from the outside are checked here before they get anywhere near S3.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from urllib.parse import unquote

from image_service.contract import ORIGINALS_PREFIX, THUMBNAILS_PREFIX

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EXTENSIONS = ("jpg", "png", "gif", "webp")
# 128 bits in 26 base32 digits leaves the top two bits zero, hence the leading [0-7].
NAME = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}\.(?:jpg|png|gif|webp)")
ID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
MAX_NAME_LENGTH = 31  # 26 + len(".webp")


def new_id(now_ms: int | None = None) -> str:
    timestamp = int(time.time() * 1000) if now_ms is None else now_ms
    value = (timestamp & (2**48 - 1)) << 80 | secrets.randbits(80)
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))


def valid_name(raw: str | None) -> str | None:
    """The name if `raw` (a path parameter, possibly still percent-encoded) is one, else None.

    Decoding once and then demanding the whole grammar rejects `..`, `/`, `%2F`, `\\`, NUL,
    spaces, look-alike Unicode and any other extension without listing them one by one.
    """
    if raw is None or len(raw) > 3 * MAX_NAME_LENGTH:
        return None
    decoded = unquote(raw, errors="replace") if "%" in raw else raw
    return decoded if NAME.fullmatch(decoded) else None


def valid_id(raw: str | None) -> str | None:
    """The id if `raw` (a path parameter or a cursor's field) is one, else None."""
    if raw is None or len(raw) > 3 * MAX_NAME_LENGTH:
        return None
    decoded = unquote(raw, errors="replace") if "%" in raw else raw
    return decoded if ID.fullmatch(decoded) else None


def original_key(name: str) -> str:
    return f"{ORIGINALS_PREFIX}{name}"


def thumbnail_key(rendition: str, name: str) -> str:
    return f"{THUMBNAILS_PREFIX}{rendition}/{name}"


def name_from_original_key(key: str) -> str | None:
    if not key.startswith(ORIGINALS_PREFIX):
        return None
    name = key[len(ORIGINALS_PREFIX) :]
    return name if NAME.fullmatch(name) else None


def image_keys(name: str, renditions: Iterable[str]) -> list[str]:
    """Every object an image may have: its original and each rendition's thumbnail."""
    return [original_key(name), *(thumbnail_key(r, name) for r in dict.fromkeys(renditions))]
