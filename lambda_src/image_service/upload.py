"""POST /upload: validate an image, store it as an original, queue its thumbnail job."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from email import errors
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from functools import partial
from typing import Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, identity, imaging, names, records
from image_service.config import UploadConfig
from image_service.errors import (
    InvalidVisibility,
    MalformedRequest,
    PayloadTooLarge,
    ServiceUnavailable,
)
from image_service.storage import API_BOTO_CONFIG

CONFIG = UploadConfig.from_environ(os.environ)
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)
sqs = boto3.client("sqs", config=API_BOTO_CONFIG)
catalogue = records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

RETRY_AFTER_SECONDS = 5
# The body may carry the image base64-encoded inside JSON (4/3 larger) plus form overhead;
# anything beyond this is refused before it is decoded at all.
BODY_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    visibility: str | None = None  # as the client asked; None: the default (public)


def _from_json(body: bytes) -> Upload:
    try:
        payload = json.loads(body)
        file = payload["file"]
        content = file["content"]
        filename = file.get("filename")
        if not isinstance(content, str) or not isinstance(filename, str | None):
            raise TypeError("content must be a string")
        data = base64.b64decode(content, validate=True)
        visibility = payload.get("visibility")
    # RecursionError: a body of nothing but deeply nested brackets.
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error) as err:
        raise MalformedRequest(
            'Expected JSON {"file": {"filename": ..., "content": "<base64>"}}.'
        ) from err
    if not isinstance(visibility, str | None):
        raise InvalidVisibility('visibility must be "public" or "private".')
    return Upload(data, names.clean_filename(filename), visibility)


# The parser's notes that a body is cut short: it keeps what it read, boundary bytes included.
UNTERMINATED = (errors.CloseBoundaryNotFoundDefect, errors.StartBoundaryNotFoundDefect)


def _from_multipart(body: bytes, content_type: str) -> Upload:
    # The standard library's MIME parser reads multipart/form-data: no extra dependency.
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(EmailMessage, policy=HTTP).parsebytes(head + body)
    boundary = message.get_boundary()
    if not message.is_multipart() or not boundary:
        raise MalformedRequest("The multipart body could not be parsed.")
    close_delimiter = f"--{boundary}--".encode("latin-1", errors="replace")
    if any(isinstance(defect, UNTERMINATED) for defect in message.defects) or not body.rstrip(
        b" \t\r\n"
    ).endswith(close_delimiter):
        raise MalformedRequest("The multipart body does not end with its closing boundary.")
    found: Upload | None = None
    visibility: str | None = None
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition")
        if field == "file" and found is None:
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                break
            found = Upload(data, names.clean_filename(part.get_filename()))
        elif field == "visibility" and visibility is None:
            value = part.get_payload(decode=True)
            raw = value if isinstance(value, bytes) else b""
            visibility = raw.decode("utf-8", errors="replace").strip()
    if found is None:
        raise MalformedRequest('The multipart body has no field named "file".')
    return Upload(found.data, found.filename, visibility)


def read_upload(event: APIGatewayProxyEvent, max_bytes: int) -> Upload:
    if len(event.body or "") * 3 / 4 > math.ceil(max_bytes * 4 / 3) + BODY_OVERHEAD:
        raise PayloadTooLarge(f"The image is larger than {max_bytes} bytes.")
    body = api.body_bytes(event)
    content_type = event.headers.get("Content-Type") or ""
    media_type = api.media_type(content_type)
    if media_type == "multipart/form-data":
        upload = _from_multipart(body, content_type)
    elif media_type == "application/json" or media_type.endswith("+json"):
        upload = _from_json(body)
    else:
        # Raw bytes; a non-ASCII file name arrives percent-encoded (headers are Latin-1).
        upload = Upload(
            body,
            names.clean_filename(unquote(event.headers.get("X-Filename") or "")),
            (event.headers.get("X-Visibility") or "").strip(),
        )
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(f"The image is larger than {max_bytes} bytes.")
    if not upload.data:
        raise MalformedRequest("The request carries no image.")
    return upload


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS)


def _take_back(what: str, undo: Callable[[], object]) -> None:
    try:
        undo()
    except (ClientError, BotoCoreError):
        logger.exception("could not take back a half-done upload", extra={"left": what})


def store(record: dict[str, Any], data: bytes) -> None:
    """The original, its record, its job: all three, or none (each failure takes back what
    was done before it), so a 503 leaves nothing behind."""
    key = names.original_key(record["name"])
    try:
        s3.put_object(
            Bucket=CONFIG.bucket_name, Key=key, Body=data, ContentType=record["content_type"]
        )
    except (ClientError, BotoCoreError) as err:
        raise _unavailable() from err
    delete_original = partial(s3.delete_object, Bucket=CONFIG.bucket_name, Key=key)
    try:
        catalogue.create(record)
    except (ClientError, BotoCoreError) as err:
        _take_back(key, delete_original)
        raise _unavailable() from err
    message = {"v": 1, "bucket": CONFIG.bucket_name, "key": key, "id": record["id"]}
    try:
        sqs.send_message(QueueUrl=CONFIG.queue_url, MessageBody=json.dumps(message))
    except (ClientError, BotoCoreError) as err:
        _take_back(f"record {record['id']}", partial(catalogue.remove, record["id"]))
        _take_back(key, delete_original)
        raise _unavailable() from err


@app.post("/upload")
def upload_image() -> Response[Any]:
    """A signed-in uploader owns the image (no delete token: the owner deletes it signed in);
    an anonymous one gets the image's delete token, shown this once."""
    event = app.current_event
    caller = identity.caller(event.raw_event)
    upload = read_upload(event, CONFIG.max_upload_bytes)
    visibility = records.visibility_choice(upload.visibility, caller)
    probe = imaging.inspect(upload.data, CONFIG.max_image_pixels)
    image_id = names.new_id()
    name = f"{image_id}.{probe.image_type.extension}"
    token = None if caller else records.new_delete_token()
    record = records.pending_record(
        image_id=image_id,
        name=name,
        content_type=probe.image_type.content_type,
        size=len(upload.data),
        width=probe.width,
        height=probe.height,
        filename=upload.filename,
        token_hash=records.token_hash(token) if token else None,
        owner=caller,
        visibility=visibility,
    )
    store(record, upload.data)
    logger.append_keys(image_name=name)  # onto the request's log line
    # `thumbnail_status` predates `status` and stays for the clients that read it.
    body = {
        **records.public_view(record, mine=caller is not None),
        "delete_token": token,
        "thumbnail_status": "pending",
    }
    return api.created(event, CONFIG.public_host, f"/download/{name}", body)
