"""GET /download/{name}: the original's bytes, or a presigned redirect when too large.

The record is read first: it says whether the image exists at all, and for whom (a private
image is NotFound to anyone but its owner, exactly as an unknown one).
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, identity, names, records
from image_service.config import DownloadImageConfig
from image_service.contract import Visibility
from image_service.errors import NotFound, ServiceUnavailable
from image_service.storage import API_BOTO_CONFIG, StoredObject, get_object

CONFIG = DownloadImageConfig.from_environ(os.environ)
logger = Logger()
# SigV4 presigned URLs: they state their own expiry (X-Amz-Expires) and work in every region.
s3 = boto3.client("s3", config=API_BOTO_CONFIG.merge(BotoConfig(signature_version="s3v4")))
catalogue = records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

# A Lambda response carries at most 6 MB, and base64 makes the body 4/3 larger.
MAX_INLINE_BYTES = 4_000_000
# The redirect to it is never kept (no-store), so no cache outlives the URL.
PRESIGNED_URL_SECONDS = 300


def presigned_overrides(name: str, stored: StoredObject) -> dict[str, str]:
    """What S3 answers the presigned GET with, whatever the object's own metadata says: the
    type from the allow-list, and `inline`, since that type was read from bytes that were
    decoded, so a browser shows the image it is (S3 has no override for nosniff). The name
    is a validated image name: nothing in it needs quoting."""
    return {
        "ResponseContentType": stored.content_type,
        "ResponseContentDisposition": f'inline; filename="{name}"',
    }


# `name` is the resolver's match; the name used is API Gateway's (see api.name_parameter).
@app.get("/download/<name>")
def download_image(name: str) -> Response[Any]:
    event = app.current_event
    valid = api.name_parameter(event)
    caller = identity.caller(event.raw_event)
    key = names.original_key(valid)
    missing = NotFound(
        headers={"Cache-Control": api.missing_cache_control(event, CONFIG.shared_caches)}
    )
    try:
        record = catalogue.get(names.id_of(valid))
        if record is None or not records.downloadable(record, valid, caller):
            raise missing
        private = records.visibility_of(record) == Visibility.PRIVATE
        stored = get_object(s3, CONFIG.bucket_name, key)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    if stored is None:  # removed by a deletion since the record was read
        raise NotFound(headers={"Cache-Control": api.OWNER_ONLY}) if private else missing
    client_is_current = api.etag_matches(event.headers.get("If-None-Match"), stored.etag)
    if stored.length > MAX_INLINE_BYTES and not client_is_current:
        stored.close()
        url = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": CONFIG.bucket_name, "Key": key, **presigned_overrides(valid, stored)},
            ExpiresIn=PRESIGNED_URL_SECONDS,
        )
        return Response(
            status_code=307, headers={"Location": url, "Cache-Control": api.NO_STORE}, body=""
        )
    cache_control = (
        api.OWNER_ONLY if private else api.image_cache_control(event, CONFIG.shared_caches)
    )
    return api.stored_image_response(event, stored, cache_control)
