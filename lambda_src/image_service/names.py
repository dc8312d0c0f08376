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
from urllib.parse import unquote, unquote_plus

from image_service.contract import INCOMING_PREFIX, ORIGINALS_PREFIX, THUMBNAILS_PREFIX

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EXTENSIONS = ("jpg", "png", "gif", "webp", "heic", "avif")
# 128 bits in 26 base32 digits leaves the top two bits zero, hence the leading [0-7].
ID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
NAME = re.compile(rf"{ID.pattern}\.(?:{'|'.join(EXTENSIONS)})")
MAX_NAME_LENGTH = 26 + 1 + max(len(ext) for ext in EXTENSIONS)


MAX_FILENAME_BYTES = 255


def clean_filename(raw: str | None) -> str:
    """The client's file name as metadata: last path component, no controls, bounded."""
    if not raw:
        return ""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    encoded = name.encode("utf-8")[:MAX_FILENAME_BYTES]
    return encoded.decode("utf-8", errors="ignore").strip()


def new_id(now_ms: int | None = None) -> str:
    timestamp = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode((timestamp & (2**48 - 1)) << 80 | secrets.randbits(80))


def first_id(at_ms: int) -> str:
    """The lowest id of the millisecond `at_ms`: every id made later sorts above it."""
    return _encode((at_ms & (2**48 - 1)) << 80)


def id_time_ms(image_id: str) -> int:
    """When a valid id was made: its leading 48 bits, in epoch milliseconds."""
    value = 0
    for character in image_id:
        value = value << 5 | CROCKFORD.index(character)
    return value >> 80


def _encode(value: int) -> str:
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


def id_of(name: str) -> str:
    """The id part of a valid name `<id>.<ext>`."""
    return name.split(".", 1)[0]


def incoming_key(image_id: str) -> str:
    return f"{INCOMING_PREFIX}{image_id}"


def id_from_incoming_key(key: str) -> str | None:
    """The id of a direct upload's object key as S3 events carry it: URL-encoded, form-style
    (decoded once here, whatever the encoder did with the `/`)."""
    decoded = unquote_plus(key)
    if not decoded.startswith(INCOMING_PREFIX):
        return None
    image_id = decoded[len(INCOMING_PREFIX) :]
    return image_id if ID.fullmatch(image_id) else None


def original_key(name: str) -> str:
    return f"{ORIGINALS_PREFIX}{name}"


def thumbnail_key(rendition: str, name: str) -> str:
    return f"{THUMBNAILS_PREFIX}{rendition}/{name}"


def name_from_original_key(key: str) -> str | None:
    if not key.startswith(ORIGINALS_PREFIX):
        return None
    name = key[len(ORIGINALS_PREFIX) :]
    return name if NAME.fullmatch(name) else None


def webp_thumbnail_key(rendition: str, name: str) -> str:
    """The rendition as WebP, beside its JPEG (or WebP with alpha): `<name>.webp`."""
    return f"{thumbnail_key(rendition, name)}.webp"


def image_keys(name: str, renditions: Iterable[str]) -> list[str]:
    """Every object an image may have: its original and each rendition's thumbnails."""
    keys = [original_key(name)]
    for rendition in dict.fromkeys(renditions):
        keys += [thumbnail_key(rendition, name), webp_thumbnail_key(rendition, name)]
    return keys
