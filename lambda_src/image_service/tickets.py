"""POST /uploads: a ticket for one direct upload to S3, for images too large to pass through
API Gateway and Lambda (which cap a request near 6 MB).

The ticket is an `uploading` record and a SigV4 presigned POST for exactly `incoming/<id>`:
at most `maxDirectUploadBytes`, with the declared Content-Type, for 15 minutes. The bytes then
go straight to S3; the bucket's notification brings them to the worker, which validates them
and turns the ticket into an image (or rejects it).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, names, records
from image_service.config import TicketsConfig
from image_service.errors import (
    MalformedRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from image_service.storage import API_BOTO_CONFIG, SERVABLE_TYPES

CONFIG = TicketsConfig.from_environ(os.environ)
logger = Logger()
# SigV4 presigned POSTs: they work in every region and state their own expiry.
s3 = boto3.client("s3", config=API_BOTO_CONFIG.merge(BotoConfig(signature_version="s3v4")))
catalogue = records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

TICKET_SECONDS = 15 * 60
RETRY_AFTER_SECONDS = 5
# What a client may declare: the types the service stores, and `image/heif`, which some
# systems write for HEIC photos. The bytes decide the real type when they arrive.
DECLARABLE_TYPES = SERVABLE_TYPES | {"image/heif"}


@dataclass(frozen=True)
class TicketRequest:
    filename: str
    content_type: str
    size: int


def read_ticket_request(body: bytes, max_bytes: int) -> TicketRequest:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise MalformedRequest(
            'Expected JSON {"filename": ..., "content_type": ..., "size": <bytes>}.'
        ) from err
    if not isinstance(payload, dict):
        raise MalformedRequest("The body must be a JSON object.")
    filename, content_type, size = (payload.get(k) for k in ("filename", "content_type", "size"))
    if not isinstance(filename, str | None) or not isinstance(content_type, str):
        raise MalformedRequest("filename and content_type must be strings.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise MalformedRequest("size must be the file's size in bytes, a whole number above 0.")
    if size > max_bytes:
        raise PayloadTooLarge(f"The image is larger than {max_bytes} bytes.")
    media_type = api.media_type(content_type)
    if media_type not in DECLARABLE_TYPES:
        raise UnsupportedMediaType()
    return TicketRequest(names.clean_filename(filename), media_type, size)


@app.post("/uploads")
def create_ticket() -> Response[Any]:
    event = app.current_event
    ticket = read_ticket_request(api.body_bytes(event), CONFIG.max_direct_upload_bytes)
    image_id = names.new_id()
    token = records.new_delete_token()
    record = records.uploading_record(
        image_id=image_id,
        filename=ticket.filename,
        content_type=ticket.content_type,
        size=ticket.size,
        token_hash=records.token_hash(token),
    )
    try:
        catalogue.create(record)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from err
    expires = time.time() + TICKET_SECONDS
    post = s3.generate_presigned_post(
        Bucket=CONFIG.bucket_name,
        Key=names.incoming_key(image_id),
        Fields={"Content-Type": ticket.content_type},
        Conditions=[
            {"Content-Type": ticket.content_type},
            ["content-length-range", 1, CONFIG.max_direct_upload_bytes],
        ],
        ExpiresIn=TICKET_SECONDS,
    )
    logger.append_keys(image_id=image_id)
    body = {
        **records.public_view(record),
        "delete_token": token,
        "upload": {
            "url": post["url"],
            "fields": post["fields"],
            "expires_at": records.iso(datetime.fromtimestamp(expires, UTC), "seconds"),
        },
    }
    return api.created(event, CONFIG.public_host, f"/images/{image_id}", body)
