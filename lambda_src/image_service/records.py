"""The catalogue: one DynamoDB record per image, the only truth about which images exist and
in what state (S3 holds their bytes, nothing else).

Every change of state is one conditional write, so a late writer cannot undo an earlier one:
a worker that finishes after the image was deleted finds its update refused and removes what
it wrote, and a deletion hides the image from the feed in the same write that marks it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from image_service import names
from image_service.contract import (
    ALL_STATUSES,
    EXPIRES_AT,
    FEED_INDEX,
    FEED_PARTITION,
    FEED_PARTITION_VALUE,
    INCOMING_LIFETIME_DAYS,
    LISTED,
    PUBLIC_FIELDS,
    TABLE_KEY,
    Status,
)

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize

# Reserved words in DynamoDB expressions, and the rest for symmetry.
_NAMES = {
    "#status": "status",
    "#error": "error",
    "#feed": FEED_PARTITION,
    "#updated": "updated_at",
    "#renditions": "renditions",
    "#name": "name",
    "#type": "content_type",
    "#size": "size",
    "#width": "width",
    "#height": "height",
    "#expires": EXPIRES_AT,
    "#gave_up": "gave_up",
}


def iso(moment: datetime, timespec: str = "milliseconds") -> str:
    """UTC, ISO 8601: `2026-11-29T18:04:05.123Z`."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def now() -> str:
    return iso(datetime.now(UTC))


def new_delete_token() -> str:
    """256 random bits, shown to the uploader once; only its SHA-256 is stored."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def token_matches(given: str | None, stored_hash: str) -> bool:
    """Constant-time comparison of the hashes; a missing or empty token never matches."""
    if not given or not stored_hash:
        return False
    return hmac.compare_digest(token_hash(given), stored_hash)


def public_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as clients see it (never the token's hash), with links to its bytes."""
    view = {field: record.get(field) for field in PUBLIC_FIELDS}
    view["renditions"] = record.get("renditions") or {}
    name = record.get("name")
    view["links"] = {
        "image": f"/download/{name}" if name else None,
        "thumbnail": f"/download-thumbnail/{name}" if name else None,
        "status": f"/images/{record['id']}",
    }
    return view


def pending_record(
    *,
    image_id: str,
    name: str,
    content_type: str,
    size: int,
    width: int,
    height: int,
    filename: str,
    token_hash: str,
) -> dict[str, Any]:
    """A complete image whose thumbnails are still to be made (listed at once)."""
    created = now()
    return {
        TABLE_KEY: image_id,
        "name": name,
        "status": Status.PENDING,
        "content_type": content_type,
        "size": size,
        "width": width,
        "height": height,
        "filename": filename,
        "created_at": created,
        "updated_at": created,
        "delete_token_hash": token_hash,
        FEED_PARTITION: FEED_PARTITION_VALUE,
    }


def expires_at() -> int:
    """When an unfinished upload's record may go (TTL, epoch seconds): when the bucket's
    lifecycle removes what is left of its bytes."""
    return int(time.time()) + INCOMING_LIFETIME_DAYS * 86_400


def uploading_record(
    *, image_id: str, filename: str, content_type: str, size: int, token_hash: str
) -> dict[str, Any]:
    """A direct-upload ticket: not listed, no name yet (the type comes from the bytes), and
    expiring if its bytes never arrive. `content_type` and `size` are what the client declared
    until the bytes say otherwise."""
    created = now()
    return {
        TABLE_KEY: image_id,
        "status": Status.UPLOADING,
        "content_type": content_type,
        "size": size,
        "filename": filename,
        "created_at": created,
        "updated_at": created,
        "delete_token_hash": token_hash,
        EXPIRES_AT: expires_at(),
    }


class Outcome(Enum):
    UPDATED = "updated"
    GONE = "gone"  # no record, or it is being deleted: the image must not come back
    UNCHANGED = "unchanged"  # the record is in a state this change does not apply to


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    last_id: str | None  # where the next page starts; None on the last page


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as the ints they always are here."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _item(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserialize(value)) for key, value in raw.items()}


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serialize(value) for name, value in values.items()}


def _is_condition_failure(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Catalogue:
    client: Any  # a boto3 DynamoDB client
    table: str

    def create(self, record: Mapping[str, Any]) -> None:
        """Write a new record; an id is never written twice."""
        self.client.put_item(
            TableName=self.table,
            Item=_values(record),
            ConditionExpression="attribute_not_exists(#id)",
            ExpressionAttributeNames={"#id": TABLE_KEY},
        )

    def get(self, image_id: str) -> dict[str, Any] | None:
        """The record, strongly consistent: a client polling right after its upload sees it."""
        response = self.client.get_item(
            TableName=self.table, Key={TABLE_KEY: {"S": image_id}}, ConsistentRead=True
        )
        raw = response.get("Item")
        return _item(raw) if raw else None

    def is_gone(self, image_id: str) -> bool:
        """No record, or one being deleted: the image no longer exists for anyone."""
        record = self.get(image_id)
        return record is None or record.get("status") == Status.DELETING

    def remove(self, image_id: str) -> None:
        """Delete the record outright (an upload taking back what it could not finish)."""
        self.client.delete_item(TableName=self.table, Key={TABLE_KEY: {"S": image_id}})

    def _update(
        self,
        image_id: str,
        expression: str,
        values: Mapping[str, Any],
        allowed: Iterable[str] = (),
        condition: str | None = None,
    ) -> Outcome:
        """One conditional write: the record exists and its status is one of `allowed` (or
        `condition` holds). A refusal says whether the image is gone or merely elsewhere."""
        allowed = tuple(allowed)
        statuses = {f":allowed{i}": status for i, status in enumerate(allowed)}
        if condition is None:
            condition = f"#status IN ({', '.join(statuses)})"
        try:
            self.client.update_item(
                TableName=self.table,
                Key={TABLE_KEY: {"S": image_id}},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(#id) AND ({condition})",
                ExpressionAttributeNames={
                    "#id": TABLE_KEY,
                    **{k: v for k, v in _NAMES.items() if k in expression + condition},
                },
                ExpressionAttributeValues=_values({**values, **statuses}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if not _is_condition_failure(err):
                raise
            old: Mapping[str, Any] = err.response.get("Item") or {}  # type: ignore[assignment]
            status = _item(old).get("status")
            if status in (None, Status.DELETING):
                return Outcome.GONE
            return Outcome.UNCHANGED
        return Outcome.UPDATED

    def mark_ready(self, image_id: str, renditions: Mapping[str, Any]) -> Outcome:
        """Thumbnails made. Also from `failed`: a last try marks failure before it renders."""
        return self._update(
            image_id,
            "SET #status = :ready, #renditions = :renditions, #updated = :now REMOVE #error",
            {":ready": Status.READY, ":renditions": dict(renditions), ":now": now()},
            (Status.PENDING, Status.FAILED, Status.READY),
        )

    def mark_failed(self, image_id: str, code: str, message: str) -> Outcome:
        """No thumbnails can be made. A record already `ready` stays ready."""
        return self._update(
            image_id,
            "SET #status = :failed, #error = :error, #updated = :now",
            {
                ":failed": Status.FAILED,
                ":error": {"code": code, "message": message},
                ":now": now(),
            },
            (Status.PENDING, Status.FAILED),
        )

    def start_delete(self, image_id: str) -> Outcome:
        """Mark the record `deleting` and take it out of the feed, in one write: from then on
        no worker can bring the image back, and a retried DELETE carries on from here."""
        return self._update(
            image_id,
            "SET #status = :deleting, #updated = :now REMOVE #feed",
            {":deleting": Status.DELETING, ":now": now()},
            ALL_STATUSES,
        )

    # --- direct uploads ----------------------------------------------------------------

    # A ticket still waiting for its bytes, or one whose processing was given up on the last
    # try before it ran (so a worker killed on every try leaves it `rejected`, never stuck).
    _INGESTIBLE = "#status = :uploading OR (#status = :rejected AND #gave_up = :yes)"

    def mark_ingested(
        self, image_id: str, *, name: str, content_type: str, size: int, width: int, height: int
    ) -> Outcome:
        """The bytes that arrived are a valid image: it becomes `pending`, named, listed, and
        no longer expires."""
        return self._update(
            image_id,
            "SET #status = :pending, #name = :name, #type = :type, #size = :size,"
            " #width = :width, #height = :height, #feed = :feed, #updated = :now"
            " REMOVE #expires, #gave_up, #error",
            {
                ":pending": Status.PENDING,
                ":name": name,
                ":type": content_type,
                ":size": size,
                ":width": width,
                ":height": height,
                ":feed": FEED_PARTITION_VALUE,
                ":now": now(),
                ":uploading": Status.UPLOADING,
                ":rejected": Status.REJECTED,
                ":yes": True,
            },
            condition=self._INGESTIBLE,
        )

    def mark_rejected(
        self, image_id: str, code: str, message: str, *, gave_up: bool = False
    ) -> Outcome:
        """The bytes are not an acceptable image (or, `gave_up`, could not be processed at
        all): `rejected` with the error, expiring like a ticket."""
        values: dict[str, Any] = {
            ":rejected": Status.REJECTED,
            ":error": {"code": code, "message": message},
            ":expires": expires_at(),
            ":now": now(),
            ":uploading": Status.UPLOADING,
            ":yes": True,
        }
        expression = (
            "SET #status = :rejected, #error = :error, #expires = :expires, #updated = :now"
        )
        if gave_up:
            return self._update(
                image_id,
                expression + ", #gave_up = :yes",
                values,
                condition="#status = :uploading",
            )
        return self._update(
            image_id, expression + " REMOVE #gave_up", values, condition=self._INGESTIBLE
        )

    def finish_delete(self, image_id: str) -> Outcome:
        """Remove the record of a deletion: UPDATED for the one deletion that removes it, GONE
        for any other that raced it there (the record had already gone)."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={TABLE_KEY: {"S": image_id}},
                ConditionExpression="#status = :deleting",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":deleting": {"S": Status.DELETING}},
            )
        except ClientError as err:
            if not _is_condition_failure(err):
                raise
            return Outcome.GONE
        return Outcome.UPDATED

    def feed(self, limit: int, after_id: str | None) -> Page:
        """One page of the feed, newest first: one Query on the sparse feed index.

        Asks for one record more than the page holds, so the last page says it is the last.
        """
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": FEED_INDEX,
            "KeyConditionExpression": "#feed = :feed",
            "ExpressionAttributeNames": {"#feed": FEED_PARTITION},
            "ExpressionAttributeValues": {":feed": {"S": FEED_PARTITION_VALUE}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after_id is not None:
            query["ExclusiveStartKey"] = {
                TABLE_KEY: {"S": after_id},
                FEED_PARTITION: {"S": FEED_PARTITION_VALUE},
            }
        response = self.client.query(**query)
        records = [_item(raw) for raw in response.get("Items", [])]
        records = [r for r in records if r.get("status") in LISTED]
        if len(records) > limit:
            return Page(records[:limit], records[limit - 1][TABLE_KEY])
        return Page(records, None)


# --- cursors -------------------------------------------------------------------------------


class BadCursor(ValueError):
    pass


CURSOR_VERSION = 1


def _cursor_key(scope: str) -> bytes:
    return hashlib.sha256(f"image-service cursor\0{scope}".encode()).digest()


def encode_cursor(last_id: str, scope: str) -> str:
    """An opaque cursor for the page after `last_id`, bound to `scope` (table and index).

    The MAC makes a cursor from another stage, another index or with a changed byte fail to
    decode. It is an integrity check, not a secret: a forged cursor can only choose where a
    page of the same public feed starts.
    """
    payload = base64.urlsafe_b64encode(
        json.dumps({"v": CURSOR_VERSION, "after": last_id}, separators=(",", ":")).encode()
    ).rstrip(b"=")
    mac = hmac.new(_cursor_key(scope), payload, hashlib.sha256).digest()[:16]
    return f"{payload.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def decode_cursor(cursor: str, scope: str) -> str:
    """The id the next page starts after; `BadCursor` for anything not made by `encode_cursor`
    for this scope."""
    if len(cursor) > 200 or cursor.count(".") != 1:
        raise BadCursor("malformed")
    payload, mac = cursor.split(".")
    try:
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        expected = hmac.new(_cursor_key(scope), payload.encode(), hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(given, expected):
            raise BadCursor("not issued for this feed")
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, UnicodeError) as err:
        raise BadCursor("malformed") from err
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise BadCursor("unknown version")
    after = data.get("after")
    if not isinstance(after, str) or names.valid_id(after) is None:
        raise BadCursor("malformed")
    # Base64 decodes padding, and the spare bits of a last character, however they are
    # written: only the exact string encode_cursor makes is one this feed issued.
    if not hmac.compare_digest(cursor, encode_cursor(after, scope)):
        raise BadCursor("not as issued")
    return after
