"""GET /download/{name}: the original's bytes, or a presigned redirect when too large."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from image_service import names
from image_service.api import (
    Request,
    Response,
    api_handler,
    empty_response,
    etag_matches,
    stored_image_response,
)
from image_service.config import load_config
from image_service.errors import InvalidName, NotFound, ServiceUnavailable
from image_service.storage import API_BOTO_CONFIG, get_object

CONFIG = load_config()
logger = Logger()
# SigV4 presigned URLs: they state their own expiry (X-Amz-Expires) and work in every region.
s3 = boto3.client("s3", config=API_BOTO_CONFIG.merge(BotoConfig(signature_version="s3v4")))

# A Lambda response carries at most 6 MB, and base64 makes the body 4/3 larger.
MAX_INLINE_BYTES = 4_000_000
PRESIGNED_URL_SECONDS = 300
# A name is never reused for other bytes, so browsers may keep an original forever. "private":
# where the stage requires an API key, a shared cache must not hand the image to others.
ORIGINAL_CACHE_CONTROL = "private, max-age=31536000, immutable"


@api_handler(logger, CONFIG.cors_origins)
def handler(request: Request) -> Response:
    name = names.valid_name(request.path_parameter("name"))
    if name is None:
        raise InvalidName()
    key = names.original_key(name)
    try:
        stored = get_object(s3, CONFIG.bucket_name, key)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(headers={"Retry-After": "2"}) from err
    if stored is None:
        raise NotFound()
    client_is_current = etag_matches(request.header("if-none-match"), stored.etag)
    if stored.length > MAX_INLINE_BYTES and not client_is_current:
        stored.close()
        url = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": CONFIG.bucket_name, "Key": key},
            ExpiresIn=PRESIGNED_URL_SECONDS,
        )
        return empty_response(307, {"Location": url, "Cache-Control": "no-store"})
    return stored_image_response(request, stored, ORIGINAL_CACHE_CONTROL)
