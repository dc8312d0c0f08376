"""POST /upload: validate an image, store it as an original, queue its thumbnail job."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote, unquote

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, imaging, names
from image_service.config import UploadConfig
from image_service.errors import MalformedRequest, PayloadTooLarge, ServiceUnavailable
from image_service.storage import API_BOTO_CONFIG

CONFIG = UploadConfig.from_environ(os.environ)
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)
sqs = boto3.client("sqs", config=API_BOTO_CONFIG)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

RETRY_AFTER_SECONDS = "5"
MAX_FILENAME_BYTES = 255
# The body may carry the image base64-encoded inside JSON (4/3 larger) plus form overhead;
# anything beyond this is refused before it is decoded at all.
BODY_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


def _clean_filename(raw: str | None) -> str:
    """The client's file name as metadata: last path component, no controls, bounded."""
    if not raw:
        return ""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    encoded = name.encode("utf-8")[:MAX_FILENAME_BYTES]
    return encoded.decode("utf-8", errors="ignore").strip()


def _from_json(body: bytes) -> Upload:
    try:
        payload = json.loads(body)
        file = payload["file"]
        content = file["content"]
        filename = file.get("filename")
        if not isinstance(content, str) or not isinstance(filename, str | None):
            raise TypeError("content must be a string")
        data = base64.b64decode(content, validate=True)
    # RecursionError: a body of nothing but deeply nested brackets.
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error) as err:
        raise MalformedRequest(
            'Expected JSON {"file": {"filename": ..., "content": "<base64>"}}.'
        ) from err
    return Upload(data, _clean_filename(filename))


def _from_multipart(body: bytes, content_type: str) -> Upload:
    # The standard library's MIME parser reads multipart/form-data: no extra dependency.
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(EmailMessage, policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or not message.get_boundary():
        raise MalformedRequest("The multipart body could not be parsed.")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                break
            return Upload(data, _clean_filename(part.get_filename()))
    raise MalformedRequest('The multipart body has no field named "file".')


def read_upload(event: APIGatewayProxyEvent, max_bytes: int) -> Upload:
    if len(event.body or "") * 3 / 4 > math.ceil(max_bytes * 4 / 3) + BODY_OVERHEAD:
        raise PayloadTooLarge(f"The image is larger than {max_bytes} bytes.")
    body = api.body_bytes(event)
    content_type = event.headers.get("Content-Type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        upload = _from_multipart(body, content_type)
    elif media_type == "application/json" or media_type.endswith("+json"):
        upload = _from_json(body)
    else:
        # Raw bytes; a non-ASCII file name arrives percent-encoded (headers are Latin-1).
        upload = Upload(body, _clean_filename(unquote(event.headers.get("X-Filename") or "")))
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(f"The image is larger than {max_bytes} bytes.")
    if not upload.data:
        raise MalformedRequest("The request carries no image.")
    return upload


def _store_and_enqueue(name: str, image_id: str, upload: Upload, probe: imaging.Probe) -> None:
    key = names.original_key(name)
    try:
        s3.put_object(
            Bucket=CONFIG.bucket_name,
            Key=key,
            Body=upload.data,
            ContentType=probe.image_type.content_type,
            Metadata={
                "id": image_id,
                "filename": quote(upload.filename, safe=""),
                "width": str(probe.width),
                "height": str(probe.height),
            },
        )
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable(headers={"Retry-After": RETRY_AFTER_SECONDS}) from err
    message = {"v": 1, "bucket": CONFIG.bucket_name, "key": key, "id": image_id}
    try:
        sqs.send_message(QueueUrl=CONFIG.queue_url, MessageBody=json.dumps(message))
    except (ClientError, BotoCoreError) as err:
        # No original without its job: take it back before telling the client to retry.
        try:
            s3.delete_object(Bucket=CONFIG.bucket_name, Key=key)
        except (ClientError, BotoCoreError):
            logger.exception("orphan original left behind", extra={"key": key})
        raise ServiceUnavailable(headers={"Retry-After": RETRY_AFTER_SECONDS}) from err


@app.post("/upload")
def upload_image() -> Response[Any]:
    event = app.current_event
    upload = read_upload(event, CONFIG.max_upload_bytes)
    probe = imaging.inspect(upload.data, CONFIG.max_image_pixels)
    image_id = names.new_id()
    name = f"{image_id}.{probe.image_type.extension}"
    _store_and_enqueue(name, image_id, upload, probe)
    logger.append_keys(image_name=name)  # onto the request's log line
    body: dict[str, Any] = {
        "id": image_id,
        "name": name,
        "content_type": probe.image_type.content_type,
        "size": len(upload.data),
        "width": probe.width,
        "height": probe.height,
        "filename": upload.filename,
        "thumbnail_status": "pending",
        "links": {"image": f"/download/{name}", "thumbnail": f"/download-thumbnail/{name}"},
    }
    location = f"{api.base_url(event)}/download/{name}"
    return Response(
        status_code=201,
        content_type=api.JSON,
        body=body,
        headers={"Location": location, "Cache-Control": api.NO_STORE},
    )
