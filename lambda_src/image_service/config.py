"""Settings from the environment, read once per execution environment (warm starts reuse them).

The stack sets each function's variables (see `stacks/api.py`, `stacks/processing.py`); a
function reads only the ones it uses, so the others fall back to harmless defaults.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

RENDITION_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
FITS = ("contain", "cover")
MAX_EDGE = 4096

DEFAULT_RENDITIONS = (
    '{"thumb":{"width":256,"height":256,"fit":"contain"},'
    '"square":{"width":320,"height":320,"fit":"cover"}}'
)


class ConfigError(ValueError):
    """An environment variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    fit: str  # "contain" (fit inside the box) or "cover" (fill the box, centre crop)


@dataclass(frozen=True)
class Config:
    bucket_name: str
    queue_url: str
    max_upload_bytes: int
    max_image_pixels: int
    cors_origins: tuple[str, ...]
    renditions: Mapping[str, Rendition]
    default_rendition: str
    max_receive_count: int


def parse_renditions(raw: str) -> Mapping[str, Rendition]:
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"RENDITIONS is not JSON: {err}") from err
    if not isinstance(spec, dict) or not spec:
        raise ConfigError("RENDITIONS must be a non-empty JSON object")
    renditions: dict[str, Rendition] = {}
    for name, box in spec.items():
        if not RENDITION_NAME.fullmatch(name):
            raise ConfigError(f"RENDITIONS: bad rendition name {name!r}")
        try:
            width, height, fit = box["width"], box["height"], box["fit"]
        except (TypeError, KeyError) as err:
            raise ConfigError(f"RENDITIONS[{name}] needs width, height and fit") from err
        for edge in (width, height):
            if not isinstance(edge, int) or isinstance(edge, bool) or not 0 < edge <= MAX_EDGE:
                raise ConfigError(f"RENDITIONS[{name}]: width/height must be 1..{MAX_EDGE}")
        if fit not in FITS:
            raise ConfigError(f"RENDITIONS[{name}]: fit must be one of {FITS}")
        renditions[name] = Rendition(name, width, height, fit)
    return MappingProxyType(renditions)


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from err
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    bucket_name = environ.get("BUCKET_NAME", "")
    if not bucket_name:
        raise ConfigError("BUCKET_NAME is not set")
    renditions = parse_renditions(environ.get("RENDITIONS") or DEFAULT_RENDITIONS)
    default_rendition = environ.get("DEFAULT_RENDITION") or next(iter(renditions))
    if default_rendition not in renditions:
        raise ConfigError(f"DEFAULT_RENDITION {default_rendition!r} is not in RENDITIONS")
    origins = tuple(o.strip() for o in environ.get("CORS_ORIGINS", "").split(",") if o.strip())
    return Config(
        bucket_name=bucket_name,
        queue_url=environ.get("QUEUE_URL", ""),
        max_upload_bytes=_int(environ, "MAX_UPLOAD_BYTES", 4_500_000),
        max_image_pixels=_int(environ, "MAX_IMAGE_PIXELS", 50_000_000),
        cors_origins=origins,
        renditions=renditions,
        default_rendition=default_rendition,
        max_receive_count=_int(environ, "MAX_RECEIVE_COUNT", 5),
    )
