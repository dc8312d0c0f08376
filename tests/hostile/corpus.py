"""The hostile upload corpus: bad inputs, each with the answer the service must give.

Generated on demand (no binaries in the repository) and deterministic. `refused(limit)` is
the list every test runs against POST /upload, at unit level and through the local runner:
each case must get its 4xx with a stable code and leave the bucket and the queue unchanged.
`accepted_hostile()` holds the inputs that are valid images carrying something nasty
(polyglots, CRLF in the file name, thousands of frames): they are stored, and what they
carry must never reach a thumbnail, a response header or the object metadata.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from PIL import Image

from samples import images

MALFORMED = (400, "MalformedRequest")
TOO_LARGE = (413, "PayloadTooLarge")
UNSUPPORTED = (415, "UnsupportedMediaType")
INVALID = (422, "InvalidImage")
# Every code POST /upload may answer a client's mistake with (docs/API.md).
CLIENT_ERRORS = frozenset({MALFORMED, TOO_LARGE, UNSUPPORTED, INVALID})

BOUNDARY = "hostile-boundary-5c1f"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
HTML_PAYLOAD = b"<html><body><script>alert('polyglot')</script></body></html>"
ZIP_MARKER = b"polyglot-zip-payload-7f3a"


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    body: bytes
    status: int
    code: str
    content_type: str = "image/jpeg"
    headers: Mapping[str, str] = field(default_factory=dict)


# Valid seeds -----------------------------------------------------------------------------


def small_jpeg() -> bytes:
    return images.jpeg(160, 120)


def small_png() -> bytes:
    return images.png(96, 72)


def small_gif() -> bytes:
    out = io.BytesIO()
    images.photo(96, 72).quantize(32).save(out, "GIF")
    return out.getvalue()


def small_webp() -> bytes:
    return images.webp(96, 72)


SEEDS: dict[str, Callable[[], bytes]] = {
    "jpeg": small_jpeg,
    "png": small_png,
    "gif": small_gif,
    "webp": small_webp,
}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


# Builders for broken and foreign files ---------------------------------------------------


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR (with a correct CRC) declares `width` x `height`."""
    return images.png_header_declaring(width, height)


def gif_with_size(width: int, height: int) -> bytes:
    """A GIF whose screen and image descriptor declare `width` x `height` over a tiny body."""
    data = bytearray(small_gif())
    struct.pack_into("<HH", data, 6, width, height)  # logical screen
    descriptor = data.index(b",", 13 + 3 * 2 ** ((data[10] & 7) + 1))
    struct.pack_into("<HH", data, descriptor + 5, width, height)
    return bytes(data)


def jpeg_with_size(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 frame header declares `width` x `height`."""
    data = bytearray(small_jpeg())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def webp_with_size(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L) whose header declares `width` x `height` (each at most 16384)."""
    data = bytearray(_save(images.photo(32, 24), "WEBP", lossless=True))
    vp8l = data.index(b"VP8L") + 8
    bits = int.from_bytes(data[vp8l + 1 : vp8l + 5], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[vp8l + 1 : vp8l + 5] = bits.to_bytes(4, "little")
    return bytes(data)


def flip(data: bytes, offset: int, mask: int = 0xFF) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def psd() -> bytes:
    """A minimal Photoshop header: 8BPS, version 1, 3 channels, 16x16, 8 bits, RGB."""
    return b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 16, 16, 8, 3) + b"\x00" * 64


def eps() -> bytes:
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
        b"(/etc/passwd) (r) file 100 string readstring pop print\nshowpage\n%%EOF\n"
    )


def eps_dos_binary() -> bytes:
    """The DOS EPS binary header (C5 D0 D3 C6) in front of a PostScript section."""
    body = eps()
    return struct.pack("<4sIIIIIIH", b"\xc5\xd0\xd3\xc6", 30, len(body), 0, 0, 0, 0, 0xFFFF) + body


def html_page() -> bytes:
    return b"<!DOCTYPE html><html><head><title>x</title></head><body>" + HTML_PAYLOAD + b"</body>"


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", ZIP_MARKER * 4)
    return out.getvalue()


def jpeg_zip_polyglot() -> bytes:
    """A JPEG with a ZIP archive appended: valid as both (unzip reads from the end)."""
    return small_jpeg() + zip_archive()


def jpeg_html_polyglot() -> bytes:
    return small_jpeg() + HTML_PAYLOAD


def png_html_polyglot() -> bytes:
    return small_png() + HTML_PAYLOAD


def many_frame_gif(frames: int = 3000, size: int = 16) -> bytes:
    """An animation with `frames` frames: only the first one may ever be decoded."""
    palette = [Image.new("P", (size, size), i % 256) for i in range(frames)]
    for index, frame in enumerate(palette):
        frame.putpalette([(index * 7 + c) % 256 for c in range(768)])
    return _save(palette[0], "GIF", save_all=True, append_images=palette[1:], duration=10)


def zero_width_png() -> bytes:
    return png_with_size(0, 16)


def zero_width_gif() -> bytes:
    return gif_with_size(0, 72)


def zero_height_jpeg() -> bytes:
    return jpeg_with_size(160, 0)


def multipart_body(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        out += (
            (
                f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def json_form(content: object, filename: object = "x.jpg") -> bytes:
    return json.dumps({"file": {"filename": filename, "content": content}}).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The refused corpus ----------------------------------------------------------------------


def _broken_images() -> list[Case]:
    cases: list[Case] = []
    for kind, seed in SEEDS.items():
        data, content_type = seed(), CONTENT_TYPES[kind]
        for label, cut in (
            ("header-only", 24),
            ("half", len(data) // 2),
            ("90pct", len(data) * 9 // 10),
        ):
            cases.append(
                Case(f"truncated-{kind}-{label}", "truncated", data[:cut], *INVALID, content_type)
            )
    jpeg, png, gif, webp = (seed() for seed in SEEDS.values())
    sof, dht = jpeg.index(b"\xff\xc0"), jpeg.index(b"\xff\xc4")
    sos = jpeg.index(b"\xff\xda")
    idat = png.index(b"IDAT")
    vp8 = webp.index(b"VP8")
    descriptor = gif.index(b",", 13 + 3 * 2 ** ((gif[10] & 7) + 1))
    flipped = {
        "jpeg-sof-components": flip(jpeg, sof + 9, 0x07),
        "jpeg-dht-table-class": flip(jpeg, dht + 4, 0xE0),
        "jpeg-sos-component-count": flip(jpeg, sos + 4, 0x0C),
        "png-ihdr-crc": flip(png, 29, 0x01),
        "png-ihdr-colour-type": flip(png, 25, 0x05),
        "png-idat-zlib-header": flip(png, idat + 4, 0xFF),
        "gif-lzw-code-size": flip(gif, descriptor + 10, 0xF0),
        "gif-image-separator": flip(gif, descriptor, 0x55),
        "webp-chunk-tag": flip(webp, vp8 + 3, 0x7F),
        "webp-vp8-keyframe-signature": flip(webp, vp8 + 11, 0xFF),
    }
    cases += [Case(f"bitflip-{k}", "bit-flipped", v, *INVALID) for k, v in flipped.items()]
    return cases


def _foreign_files() -> list[Case]:
    photo = images.photo(48, 36)
    foreign = {
        "svg-script": images.svg_with_script(),
        "html": html_page(),
        "pdf": images.pdf_document(),
        "psd": psd(),
        "eps": eps(),
        "eps-dos-binary": eps_dos_binary(),
        "tiff": images.tiff(),
        "tiff-big-endian": b"MM\x00*" + _save(photo, "TIFF")[4:],
        "ico": _save(photo, "ICO"),
        "bmp": _save(photo, "BMP"),
        "pcx": _save(photo, "PCX"),
        "tga": _save(photo, "TGA"),
        "ppm": _save(photo, "PPM"),
        "jpeg2000": _save(photo, "JPEG2000"),
        "zip": zip_archive(),
        "html-then-jpeg": HTML_PAYLOAD + small_jpeg(),
        "zip-then-jpeg": zip_archive() + small_jpeg(),
        "utf8-bom-svg": b"\xef\xbb\xbf" + images.svg_with_script(),
    }
    cases = [
        Case(
            f"renamed-{k}",
            "foreign format renamed .jpg",
            v,
            *UNSUPPORTED,
            "image/jpeg",
            {"X-Filename": "photo.jpg"},
        )
        for k, v in foreign.items()
    ]
    cases.append(
        Case(
            "svg-as-svg", "foreign format", images.svg_with_script(), *UNSUPPORTED, "image/svg+xml"
        )
    )
    return cases


def _random_bodies() -> list[Case]:
    noise = images.random_bytes(4096, seed=11)
    cases = [
        Case(f"random-as-{ct.replace('/', '-')}", "random bytes", noise, *UNSUPPORTED, ct)
        for ct in ("image/jpeg", "image/png", "image/gif", "image/webp", "application/octet-stream")
    ]
    magic = {
        "jpeg": b"\xff\xd8\xff\xe0",
        "png": b"\x89PNG\r\n\x1a\n",
        "gif": b"GIF89a",
        "webp": b"RIFF\x00\x10\x00\x00WEBP",
    }
    cases += [
        Case(f"random-after-{k}-magic", "random bytes", m + noise, *INVALID, CONTENT_TYPES[k])
        for k, m in magic.items()
    ]
    return cases


def _bombs_and_degenerate() -> list[Case]:
    return [
        Case(
            "bomb-png-30000x30000",
            "decompression bomb",
            png_with_size(30000, 30000),
            *INVALID,
            "image/png",
        ),
        Case(
            "bomb-gif-30000x30000",
            "decompression bomb",
            gif_with_size(30000, 30000),
            *INVALID,
            "image/gif",
        ),
        Case("bomb-jpeg-30000x30000", "decompression bomb", jpeg_with_size(30000, 30000), *INVALID),
        Case(
            "bomb-webp-16384x16384",
            "decompression bomb",
            webp_with_size(16384, 16384),
            *INVALID,
            "image/webp",
        ),
        Case("zero-width-png", "zero-size image", zero_width_png(), *INVALID, "image/png"),
        Case("zero-width-gif", "zero-size image", zero_width_gif(), *INVALID, "image/gif"),
        Case("zero-height-jpeg", "zero-size image", zero_height_jpeg(), *INVALID),
    ]


def _malformed_requests(limit: int) -> list[Case]:
    png = small_png()
    json_type, cat_json, cat_form = "application/json", "bad JSON form", "bad multipart form"
    cases = [
        Case("empty-body", "empty / 1 byte", b"", *MALFORMED),
        Case("one-byte", "empty / 1 byte", b"\xff", *UNSUPPORTED),
        Case("jpeg-magic-only", "empty / 1 byte", b"\xff\xd8\xff", *INVALID),
        Case("json-not-base64", cat_json, json_form("@@@ not base64 @@@"), *MALFORMED, json_type),
        Case("json-bad-padding", cat_json, json_form(b64(png)[:-2] + "="), *MALFORMED, json_type),
        Case(
            "json-base64-with-newlines", cat_json, json_form("iVBO\nRw0K\n"), *MALFORMED, json_type
        ),
        Case("json-content-number", cat_json, json_form(12345), *MALFORMED, json_type),
        Case(
            "json-content-missing",
            cat_json,
            b'{"file": {"filename": "a.png"}}',
            *MALFORMED,
            json_type,
        ),
        Case("json-file-is-string", cat_json, b'{"file": "iVBORw0KGgo="}', *MALFORMED, json_type),
        Case(
            "json-no-file",
            cat_json,
            json.dumps({"image": b64(png)}).encode(),
            *MALFORMED,
            json_type,
        ),
        Case(
            "json-filename-object", cat_json, json_form(b64(png), {"a": 1}), *MALFORMED, json_type
        ),
        Case("json-array", cat_json, b"[1, 2, 3]", *MALFORMED, json_type),
        Case("json-truncated", cat_json, json_form(b64(png))[:-5], *MALFORMED, json_type),
        Case("json-not-json", cat_json, b"\xff\xd8\xff not json", *MALFORMED, json_type),
        Case(
            "json-deeply-nested", cat_json, b"[" * 100_000 + b"]" * 100_000, *MALFORMED, json_type
        ),
        Case("json-empty-content", cat_json, json_form(""), *MALFORMED, json_type),
        Case(
            "json-random-image",
            cat_json,
            json_form(b64(images.random_bytes(512))),
            *UNSUPPORTED,
            json_type,
        ),
        Case(
            "multipart-no-file-field",
            cat_form,
            multipart_body([("picture", "a.png", png)]),
            *MALFORMED,
            MULTIPART,
        ),
        Case(
            "multipart-only-text-fields",
            cat_form,
            multipart_body([("caption", None, b"hi")]),
            *MALFORMED,
            MULTIPART,
        ),
        Case(
            "multipart-no-boundary",
            cat_form,
            multipart_body([("file", "a.png", png)]),
            *MALFORMED,
            "multipart/form-data",
        ),
        Case(
            "multipart-wrong-boundary",
            cat_form,
            multipart_body([("file", "a.png", png)]),
            *MALFORMED,
            "multipart/form-data; boundary=not-the-one",
        ),
        Case(
            "multipart-empty-file",
            cat_form,
            multipart_body([("file", "a.png", b"")]),
            *MALFORMED,
            MULTIPART,
        ),
        Case("multipart-empty-body", cat_form, b"", *MALFORMED, MULTIPART),
    ]
    over = limit + 1
    padded_jpeg = small_jpeg() + b"\x00" * (over - len(small_jpeg()))
    cases += [
        Case("raw-one-byte-over-limit", "over the size limit", padded_jpeg, *TOO_LARGE),
        Case(
            "json-one-byte-over-limit",
            "over the size limit",
            json_form(b64(padded_jpeg)),
            *TOO_LARGE,
            json_type,
        ),
        Case(
            "multipart-one-byte-over-limit",
            "over the size limit",
            multipart_body([("file", "a.jpg", padded_jpeg)]),
            *TOO_LARGE,
            MULTIPART,
        ),
    ]
    crlf = {"X-Filename": "evil.jpg%0D%0ASet-Cookie:%20a=1"}
    cases.append(
        Case(
            "crlf-filename-on-refused-body",
            "CRLF injection",
            html_page(),
            *UNSUPPORTED,
            "image/jpeg",
            crlf,
        )
    )
    return cases


def refused(limit: int) -> list[Case]:
    """Every bad input with the status and code it must get, for an upload limit of `limit`."""
    cases = _broken_images() + _foreign_files() + _random_bodies() + _bombs_and_degenerate()
    cases += _malformed_requests(limit)
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


# Valid images carrying something hostile --------------------------------------------------

CRLF_FILENAMES = {
    "raw-header-crlf": "evil.jpg\r\nSet-Cookie: session=stolen",
    "percent-encoded-crlf": "evil.jpg%0D%0AX-Injected:%201",
    "bare-lf-and-nul": "a\nb\x00c.jpg",
    "unicode-line-separators": "a\u2028b\u2029c\u0085d.jpg",
    "path-and-crlf": "..\\..\\etc\\passwd\r\n.jpg",
}
