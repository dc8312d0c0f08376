"""GET /download-thumbnail/{name}?size=<rendition>: a thumbnail, or why there is none yet."""

from __future__ import annotations

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
    UnknownRendition,
)
from image_service.storage import API_BOTO_CONFIG, get_object

CONFIG = DownloadThumbnailConfig.from_environ(os.environ)
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)
catalogue = records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

PENDING_RETRY_AFTER = "2"


def _why_missing(name: str, cache_control: str) -> Exception:
    """The catalogue knows why there is no thumbnail (yet). "Pending" is never kept by any
    cache (no-store, the error default): the thumbnail is moments away. The other answers
    may be kept briefly (`cache_control`)."""
    kept_briefly = {"Cache-Control": cache_control}
    record = catalogue.get(name.split(".", 1)[0])
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
    try:
        stored = get_object(s3, CONFIG.bucket_name, names.thumbnail_key(rendition, valid))
        if stored is None:
            raise _why_missing(valid, api.missing_cache_control(event, CONFIG.shared_caches))
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(headers={"Retry-After": "2"}) from err
    return api.stored_image_response(
        event, stored, api.image_cache_control(event, CONFIG.shared_caches)
    )
