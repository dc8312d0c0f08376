"""GET /download-thumbnail/{name}?size=<rendition>: a thumbnail, or why there is none yet."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, names
from image_service.config import DownloadThumbnailConfig
from image_service.errors import (
    NotFound,
    ServiceUnavailable,
    ThumbnailFailed,
    ThumbnailPending,
    UnknownRendition,
)
from image_service.storage import API_BOTO_CONFIG, exists, get_object

CONFIG = DownloadThumbnailConfig.from_environ(os.environ)
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

# A thumbnail's bytes only change if the stage's renditions are reconfigured: a day is safe.
THUMBNAIL_CACHE_CONTROL = "private, max-age=86400"
PENDING_RETRY_AFTER = "2"


def _why_missing(name: str) -> Exception:
    if exists(s3, CONFIG.bucket_name, names.failed_marker_key(name)):
        return ThumbnailFailed()
    if exists(s3, CONFIG.bucket_name, names.original_key(name)):
        return ThumbnailPending(headers={"Retry-After": PENDING_RETRY_AFTER})
    return NotFound()


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
    try:
        stored = get_object(s3, CONFIG.bucket_name, names.thumbnail_key(rendition, valid))
        if stored is None:
            raise _why_missing(valid)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(headers={"Retry-After": "2"}) from err
    return api.stored_image_response(event, stored, THUMBNAIL_CACHE_CONTROL)
