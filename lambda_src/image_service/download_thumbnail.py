"""GET /download-thumbnail/{name}?size=<rendition>&format=<webp|jpeg>: a thumbnail, or why
there is none yet.

Each rendition is stored twice: as JPEG (or WebP with alpha, where the image is transparent)
and as WebP, about a quarter smaller at the same quality. `format` picks one; without it, a
client whose `Accept` lists `image/webp` gets WebP, and the answer says `Vary: Accept`.

The record is read first (one GetItem): whether the image exists for this caller (a private
one only for its owner), and whether its thumbnails are made. A `ready` record's thumbnails
exist (the worker stores them before it marks the record), so nothing is looked for that the
record does not promise, and a record's state read after a miss can never disagree with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, identity, names, records
from image_service.config import DownloadThumbnailConfig
from image_service.contract import Status, Visibility
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
catalogue = records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

PENDING_RETRY_AFTER = "2"


def thumbnail_key(
    record: Mapping[str, Any], name: str, rendition: str, webp: bool, kept_briefly: str
) -> str:
    """The key of the thumbnail to serve, or the reason there is none, from the record alone.
    "Pending" is never kept by any cache (no-store, the error default): the thumbnail is
    moments away. The other answers may be kept briefly (`kept_briefly`)."""
    status = record.get("status")
    if status in (Status.UPLOADING, Status.PENDING):
        raise ThumbnailPending(headers={"Retry-After": PENDING_RETRY_AFTER})
    if status in (Status.FAILED, Status.REJECTED):
        raise ThumbnailFailed(headers={"Cache-Control": kept_briefly})
    made = (record.get("renditions") or {}).get(rendition)
    if made is None:
        # Ready, but not in this size: the stage's renditions changed after it was made.
        raise NotFound(
            "This image has no thumbnail in this size.", headers={"Cache-Control": kept_briefly}
        )
    # Images rendered before the WebP copies existed have their primary encoding only.
    if webp and "webp_bytes" in made:
        return names.webp_thumbnail_key(rendition, name)
    return names.thumbnail_key(rendition, name)


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
    caller = identity.caller(event.raw_event)
    unknown = api.missing_cache_control(event, CONFIG.shared_caches)
    try:
        record = catalogue.get(names.id_of(valid))
        if record is None or not records.downloadable(record, valid, caller):
            raise NotFound(headers={"Cache-Control": unknown})
        private = records.visibility_of(record) == Visibility.PRIVATE
        # What its owner is told about a private image is not kept by any shared cache.
        kept_briefly = api.OWNER_ONLY if private else unknown
        key = thumbnail_key(record, valid, rendition, webp, kept_briefly)
        stored = get_object(s3, CONFIG.bucket_name, key)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    if stored is None:  # removed by a deletion since the record was read
        raise NotFound(headers={"Cache-Control": kept_briefly})
    # Without `format`, the answer depends on Accept: caches must key on it.
    vary = {"Vary": "Accept"} if requested is None else {}
    cache_control = (
        api.OWNER_ONLY if private else api.image_cache_control(event, CONFIG.shared_caches)
    )
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
