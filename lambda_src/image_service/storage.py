"""S3 access shared by the download functions (which must stay free of Pillow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

# Short timeouts and few retries: the whole request must finish well inside API Gateway's 29 s.
API_BOTO_CONFIG = BotoConfig(
    connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
)
SERVABLE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif"}
)
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class StoredObject:
    """An object whose body has not been read yet (it may not need to be)."""

    etag: str
    content_type: str
    length: int
    body: Any  # botocore StreamingBody

    def read(self) -> bytes:
        data: bytes = self.body.read()
        return data

    def close(self) -> None:
        self.body.close()


def is_missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code", "") in MISSING


def get_object(s3: Any, bucket: str, key: str) -> StoredObject | None:
    """The object, or None when it does not exist; other S3 errors propagate."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if is_missing(err):
            return None
        raise
    content_type = response.get("ContentType", "")
    return StoredObject(
        etag=response.get("ETag", ""),
        # Only ever announce a type from the allow-list: the bytes were sniffed on upload.
        content_type=content_type if content_type in SERVABLE_TYPES else "application/octet-stream",
        length=int(response.get("ContentLength", 0)),
        body=response["Body"],
    )


def delete_objects(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete `keys` in one request (missing ones are fine); raises if S3 refused any."""
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
    )
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise ClientError(
            {"Error": {"Code": first.get("Code", "Error"), "Message": first.get("Message", "")}},
            "DeleteObjects",
        )
