"""What is measured: the baselines, the floors, the project's engine and prototype variants.

Every case takes the original's bytes and does the whole job it stands for, encoding
included, except the floors, which only decode. Modules are imported by `prepare()` so that a
case's timing and its peak memory never include an import.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import proto

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"

# The stage defaults (cdk.json): the default rendition first.
RENDITIONS: dict[str, proto.Box] = {"thumb": (256, 256, "contain"), "square": (320, 320, "cover")}
DEFAULT = "thumb"
MAX_IMAGE_PIXELS = 50_000_000  # the stages' maxImagePixels
THUMB_BOX = RENDITIONS[DEFAULT][:2]

NAIVE = "naive-full-decode-lanczos"
PIL_THUMBNAIL = "pillow-thumbnail"
PYVIPS = "pyvips-thumbnail_buffer"
FLOOR_DRAFT = "floor-jpeg-draft-decode"
FLOOR_DECODE = "floor-full-decode"
ENGINE_ONE = "engine-default-rendition"
ENGINE_ALL = "engine-all-renditions"
ENGINE_INSPECT = "engine-upload-inspect"
ENGINE_ALL_WEBP = "engine-all-renditions+webp"  # each rendition also as WebP, same pixels
BASELINES = (NAIVE, PIL_THUMBNAIL, PYVIPS)

Render = Callable[[bytes], Any]
WEBP_SUFFIX = ".webp"  # output name of a rendition's WebP variant


def rendition_of(output: str) -> str:
    return output.removesuffix(WEBP_SUFFIX)


def _save(im: Any) -> bytes:
    buf = io.BytesIO()
    if im.mode in ("RGBA", "LA", "PA", "P") and (im.mode != "P" or "transparency" in im.info):
        im.save(buf, "PNG")
    else:
        im.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def naive(data: bytes) -> bytes:
    from PIL import Image

    im: Image.Image = Image.open(io.BytesIO(data))
    im.load()
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    scale = min(THUMB_BOX[0] / im.width, THUMB_BOX[1] / im.height)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return _save(im.resize(size, Image.Resampling.LANCZOS))


def pillow_thumbnail(data: bytes) -> bytes:
    from PIL import Image

    im: Image.Image = Image.open(io.BytesIO(data))
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    im.thumbnail(THUMB_BOX)  # Pillow's defaults: draft, reducing_gap=2.0, BICUBIC
    return _save(im)


def pyvips_thumbnail(data: bytes) -> bytes:
    import pyvips

    thumb = pyvips.Image.thumbnail_buffer(data, THUMB_BOX[0], height=THUMB_BOX[1])
    fmt = ".png" if thumb.hasalpha() else ".jpg[Q=85]"
    return bytes(thumb.write_to_buffer(fmt))


def floor_draft(data: bytes) -> Any:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.draft("RGB", THUMB_BOX)
    im.load()
    return im


def floor_decode(data: bytes) -> Any:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def engine_module() -> Any | None:
    """`image_service.imaging` from `lambda_src/`, or None while it does not exist."""
    if str(LAMBDA_SRC) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SRC))
    try:
        module = importlib.import_module("image_service.imaging")
    except ModuleNotFoundError as exc:
        if exc.name in ("image_service.imaging", "image_service"):
            return None
        raise
    return module if hasattr(module, "render_renditions") else None


def renditions_json(names: tuple[str, ...] = tuple(RENDITIONS)) -> str:
    """The `RENDITIONS` variable the stack would set for these renditions."""
    return json.dumps(
        {
            n: {"width": RENDITIONS[n][0], "height": RENDITIONS[n][1], "fit": RENDITIONS[n][2]}
            for n in names
        }
    )


# What the stack sets in every function's environment (each reads only its own part), with
# fake credentials: nothing the functions do here reaches AWS.
BUCKET = "bench-bucket"
TABLE = "bench-catalogue"
QUEUE = "bench-jobs"
BENCH_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench"
FUNCTION_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "BUCKET_NAME": BUCKET,
    "TABLE_NAME": TABLE,
    "QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/123456789012/{QUEUE}",
    "MAX_UPLOAD_BYTES": "4500000",
    "MAX_DIRECT_UPLOAD_BYTES": "50000000",
    "MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS),
    "MAX_RECEIVE_COUNT": "5",
    "RENDITIONS": renditions_json(),
    "DEFAULT_RENDITION": DEFAULT,
    "CORS_ORIGINS": "*",
    "PUBLIC_HOST": "",
    "DISTRIBUTION_ID": "",
    "SHARED_CACHES": "any",
    "TOKEN_ISSUER": BENCH_ISSUER,
    "TOKEN_AUDIENCE": "bench-client",
    "JWKS_URL": f"{BENCH_ISSUER}/.well-known/jwks.json",
    "POWERTOOLS_SERVICE_NAME": "image-service",
    "POWERTOOLS_METRICS_NAMESPACE": "ImageService",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}


def engine_renditions(names: tuple[str, ...]) -> list[Any]:
    """The stage's renditions as the worker builds them from its environment."""
    contract = importlib.import_module("image_service.contract")
    return list(contract.renditions_from_json(renditions_json(names)))


def engine_case(names: tuple[str, ...], *, webp: bool = False) -> Render:
    """The worker's renderer with the renditions built as the worker builds them."""
    module = engine_module()
    assert module is not None, "engine not available"
    renditions = engine_renditions(names)

    def render(data: bytes) -> Any:
        if webp:
            return module.render_renditions(
                data, renditions, max_pixels=MAX_IMAGE_PIXELS, webp=True
            )
        return module.render_renditions(data, renditions, max_pixels=MAX_IMAGE_PIXELS)

    return render


def outputs(result: Any) -> dict[str, bytes]:
    """The encoded thumbnails in whatever shape a renderer returns them."""
    if isinstance(result, bytes):
        return {DEFAULT: result}
    if isinstance(result, dict):
        found = {name: _as_bytes(value) for name, value in result.items()}
        for name, value in result.items():  # the engine's WebP variants, when it made them
            variant = getattr(value, "webp", None)
            if isinstance(variant, bytes) and variant is not getattr(value, "body", None):
                found[f"{name}{WEBP_SUFFIX}"] = variant
        return found
    if isinstance(result, list | tuple):
        found = {}
        for item in result:
            name = getattr(item, "name", None) or getattr(item, "rendition", None)
            found[str(name)] = _as_bytes(item)
        return found
    raise TypeError(f"unknown render result {type(result).__name__}")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    for attr in ("data", "body", "content", "payload"):
        if isinstance(getattr(value, attr, None), bytes | bytearray):
            return bytes(getattr(value, attr))
    if isinstance(value, tuple):
        return next(bytes(v) for v in value if isinstance(v, bytes | bytearray))
    raise TypeError(f"cannot find the encoded bytes in {type(value).__name__}")


def proto_case(variant: str, names: tuple[str, ...]) -> Render:
    boxes = {n: RENDITIONS[n] for n in names}
    chosen = proto.VARIANTS[variant]
    return lambda data: proto.render(data, boxes, chosen)


def available(kind: str) -> list[str]:
    """Case names that apply to an input kind, in table order."""
    # pyvips-binary's libheif has no HEVC decoder (libde265 is not bundled): no pyvips for HEIC.
    names = [NAIVE, PIL_THUMBNAIL] + ([] if kind == "heic" else [PYVIPS])
    names.append(FLOOR_DRAFT if kind == "jpeg" else FLOOR_DECODE)
    if kind == "jpeg":
        names.append(FLOOR_DECODE)
    if engine_module() is not None:
        names += [ENGINE_ONE, ENGINE_ALL, ENGINE_ALL_WEBP, ENGINE_INSPECT]
    if kind in ("heic", "avif"):
        return names  # the prototype predates these formats
    names += [f"{proto.BEST}/all"]
    alpha_variants = [n for n in proto.VARIANTS if n.startswith("proto-alpha-")]
    if kind == "jpeg":
        names += [n for n in proto.VARIANTS if n not in alpha_variants]
    else:
        names += [proto.BEST, "proto-draft1-lanczos-q85-rg3"]
        if kind in ("png", "webp"):
            names += alpha_variants + [f"{n}/all" for n in alpha_variants]
    return list(dict.fromkeys(names))


def prepare(name: str) -> Render:
    """Import what the case needs and return its render function."""
    import PIL.Image  # every case decodes with Pillow or compares against it

    from bench import heif

    heif.register()
    PIL.Image.MAX_IMAGE_PIXELS = None  # the benchmark's own inputs include 50 MP on purpose
    simple: dict[str, Render] = {
        NAIVE: naive,
        PIL_THUMBNAIL: pillow_thumbnail,
        FLOOR_DRAFT: floor_draft,
        FLOOR_DECODE: floor_decode,
    }
    if name in simple:
        return simple[name]
    if name == PYVIPS:
        import pyvips

        pyvips.cache_set_max(0)  # no reuse of a previous call's work between repetitions
        return pyvips_thumbnail
    if name == ENGINE_ONE:
        return engine_case((DEFAULT,))
    if name == ENGINE_ALL:
        return engine_case(tuple(RENDITIONS))
    if name == ENGINE_ALL_WEBP:
        return engine_case(tuple(RENDITIONS), webp=True)
    if name == ENGINE_INSPECT:
        # What the upload function spends validating an image (no thumbnail made).
        module = engine_module()
        assert module is not None, "engine not available"
        return lambda data: module.inspect(data, MAX_IMAGE_PIXELS)
    variant, _, scope = name.partition("/")
    return proto_case(variant, tuple(RENDITIONS) if scope == "all" else (DEFAULT,))
