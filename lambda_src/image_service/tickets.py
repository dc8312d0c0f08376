"""POST /uploads: a ticket for one direct upload to S3, for images too large to pass through
API Gateway and Lambda (which cap a request near 6 MB).

The ticket is an `uploading` record and a SigV4 presigned POST for exactly `incoming/<id>`:
at most `maxDirectUploadBytes`, with the declared Content-Type, for 15 minutes. The bytes then
go straight to S3; the bucket's notification brings them to the worker, which validates them
and turns the ticket into an image (or rejects it).

A signed-in user's tickets are theirs (owned, possibly private) and capped: at most
`MAX_OPEN_TICKETS` waiting for their bytes from the last day, counted on the owner index.
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

from image_service import api, identity, names, records
from image_service.config import TicketsConfig
from image_service.contract import INCOMING_LIFETIME_DAYS, MAX_OPEN_TICKETS
from image_service.errors import (
    InvalidVisibility,
    MalformedRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyOpenUploads,
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
    visibility: str | None = None  # as asked; None: the default (public)


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
    visibility = payload.get("visibility")
    if not isinstance(visibility, str | None):
        raise InvalidVisibility('visibility must be "public" or "private".')
    return TicketRequest(names.clean_filename(filename), media_type, size, visibility)


# A ticket counts against its owner's cap while it waits, for as long as its record can: the
# incoming/ lifecycle and the record's TTL both end it after this.
OPEN_TICKET_SECONDS = INCOMING_LIFETIME_DAYS * 86_400


def check_open_tickets(owner: identity.Owner) -> None:
    """TooManyOpenUploads when `owner` already holds MAX_OPEN_TICKETS waiting tickets from
    the last day; Retry-After is when the oldest of them stops counting."""
    now_ms = int(time.time() * 1000)
    since = names.first_id(now_ms - OPEN_TICKET_SECONDS * 1000)
    try:
        waiting = catalogue.open_tickets(owner.key, since, MAX_OPEN_TICKETS)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS) from err
    if len(waiting) < MAX_OPEN_TICKETS:
        return
    frees_ms = names.id_time_ms(waiting[0]) + OPEN_TICKET_SECONDS * 1000
    raise TooManyOpenUploads(
        f"{MAX_OPEN_TICKETS} direct uploads are waiting for their bytes; send them, delete "
        "them, or retry later.",
        retry_after=max(1, -(-(frees_ms - now_ms) // 1000)),
    )


@app.post("/uploads")
def create_ticket() -> Response[Any]:
    event = app.current_event
    caller = identity.caller(event.raw_event)
    ticket = read_ticket_request(api.body_bytes(event), CONFIG.max_direct_upload_bytes)
    visibility = records.visibility_choice(ticket.visibility, caller)
    if caller is not None:
        check_open_tickets(caller)
    image_id = names.new_id()
    token = None if caller else records.new_delete_token()
    record = records.uploading_record(
        image_id=image_id,
        filename=ticket.filename,
        content_type=ticket.content_type,
        size=ticket.size,
        token_hash=records.token_hash(token) if token else None,
        owner=caller,
        visibility=visibility,
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
        **records.public_view(record, mine=caller is not None),
        "delete_token": token,
        "upload": {
            "url": post["url"],
            "fields": post["fields"],
            "expires_at": records.iso(datetime.fromtimestamp(expires, UTC), "seconds"),
        },
    }
    return api.created(event, CONFIG.public_host, f"/images/{image_id}", body)
