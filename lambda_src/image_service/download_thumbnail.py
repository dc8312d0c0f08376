"""GET /download-thumbnail/{name}?size=<rendition>: a thumbnail, or why there is none yet."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from image_service import names
from image_service.api import (
    Request,
    Response,
    api_handler,
    stored_image_response,
)
from image_service.config import load_config
from image_service.errors import (
    InvalidName,
    NotFound,
    ServiceUnavailable,
    ThumbnailFailed,
    ThumbnailPending,
    UnknownRendition,
)
from image_service.storage import API_BOTO_CONFIG, exists, get_object

CONFIG = load_config()
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)

# A thumbnail's bytes only change if the stage's renditions are reconfigured: a day is safe.
THUMBNAIL_CACHE_CONTROL = "private, max-age=86400"
PENDING_RETRY_AFTER = "2"


def _why_missing(name: str) -> Exception:
    if exists(s3, CONFIG.bucket_name, names.failed_marker_key(name)):
        return ThumbnailFailed()
    if exists(s3, CONFIG.bucket_name, names.original_key(name)):
        return ThumbnailPending(headers={"Retry-After": PENDING_RETRY_AFTER})
    return NotFound()


@api_handler(logger, CONFIG.cors_origins)
def handler(request: Request) -> Response:
    name = names.valid_name(request.path_parameter("name"))
    if name is None:
        raise InvalidName()
    rendition = request.query_parameter("size") or CONFIG.default_rendition
    if rendition not in CONFIG.renditions:
        raise UnknownRendition(
            f"Unknown size {rendition[:40]!r}; one of: {', '.join(CONFIG.renditions)}."
        )
    try:
        stored = get_object(s3, CONFIG.bucket_name, names.thumbnail_key(rendition, name))
        if stored is None:
            raise _why_missing(name)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(headers={"Retry-After": "2"}) from err
    return stored_image_response(request, stored, THUMBNAIL_CACHE_CONTROL)
