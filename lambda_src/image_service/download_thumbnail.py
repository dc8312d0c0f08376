"""GET /download-thumbnail/{name}?size=<rendition>&format=<webp|jpeg>: a thumbnail, or why
there is none yet.

Each rendition is stored twice: as JPEG (or WebP with alpha, where the image is transparent)
and as WebP, about a quarter smaller at the same quality. `format` picks one; without it, a
client whose `Accept` lists `image/webp` gets WebP, and the answer says `Vary: Accept`.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, names, records
from image_service.config import DownloadThumbnailConfig
from image_service.contract import Status
from image_service.errors import (
    NotFound,
    ServiceUnavailable,
    ThumbnailFailed,
    ThumbnailPending,
    UnknownFormat,
    UnknownRendition,
)
from image_service.storage import API_BOTO_CONFIG, get_object

CONFIG = DownloadThumbnailConfig.from_environ(os.environ)
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)


@functools.cache
def catalogue() -> records.Catalogue:
    """The catalogue, asked only when a thumbnail is missing: most requests find theirs, so
    the DynamoDB client (about 20 ms of cold start) is made on the first miss, then kept."""
    return records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)


app, handler = api.rest_function(logger, CONFIG.cors_origins)

PENDING_RETRY_AFTER = "2"


def _why_missing(name: str, cache_control: str) -> Exception:
    """The catalogue knows why there is no thumbnail (yet). "Pending" is never kept by any
    cache (no-store, the error default): the thumbnail is moments away. The other answers
    may be kept briefly (`cache_control`)."""
    kept_briefly = {"Cache-Control": cache_control}
    record = catalogue().get(names.id_of(name))
    status = record.get("status") if record else None
    if record is None or record.get("name") != name or status == Status.DELETING:
        return NotFound(headers=kept_briefly)
    if status in (Status.UPLOADING, Status.PENDING):
        return ThumbnailPending(headers={"Retry-After": PENDING_RETRY_AFTER})
    if status in (Status.FAILED, Status.REJECTED):
        return ThumbnailFailed(headers=kept_briefly)
    # Ready, but not in this size: the stage's renditions changed after it was made.
    return NotFound("This image has no thumbnail in this size.", headers=kept_briefly)


# `name` is the resolver's match; the name used is API Gateway's (see api.name_parameter).
@app.get("/download-thumbnail/<name>")
def download_thumbnail(name: str) -> Response[Any]:
    event = app.current_event
    valid = api.name_parameter(event)
    rendition = event.query_string_parameters.get("size") or CONFIG.default_rendition
    if rendition not in CONFIG.renditions:
        raise UnknownRendition(
            f"Unknown size {rendition[:40]!r}; one of: {', '.join(CONFIG.renditions)}."
        )
    requested = event.query_string_parameters.get("format") or None
    if requested not in (None, *FORMATS):
        raise UnknownFormat(f"Unknown format {requested[:40]!r}; one of: {', '.join(FORMATS)}.")
    webp = requested == "webp" or (requested is None and accepts_webp(event.headers.get("Accept")))
    keys = [names.thumbnail_key(rendition, valid)]
    if webp:  # images made before the WebP copies existed still have their primary
        keys.insert(0, names.webp_thumbnail_key(rendition, valid))
    try:
        stored = None
        for key in keys:
            stored = get_object(s3, CONFIG.bucket_name, key)
            if stored is not None:
                break
        if stored is None:
            raise _why_missing(valid, api.missing_cache_control(event, CONFIG.shared_caches))
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    # Without `format`, the answer depends on Accept: caches must key on it.
    vary = {"Vary": "Accept"} if requested is None else {}
    cache_control = api.image_cache_control(event, CONFIG.shared_caches)
    return api.stored_image_response(event, stored, cache_control, vary)


FORMATS = ("webp", "jpeg")


def accepts_webp(accept: str | None) -> bool:
    """Whether an Accept header lists image/webp with a quality above zero."""
    for item in (accept or "").split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        if media_type.lower() == "image/webp":
            quality = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False
