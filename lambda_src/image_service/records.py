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
    OWNER,
    OWNER_INDEX,
    PUBLIC_FIELDS,
    TABLE_KEY,
    VISIBILITIES,
    VISIBILITY,
    Status,
    Visibility,
)
from image_service.errors import InvalidVisibility
from image_service.identity import Owner

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
    "#owner": OWNER,
    "#visibility": VISIBILITY,
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


def visibility_of(record: Mapping[str, Any]) -> str:
    """A record without a visibility (anonymous, or made before accounts) is public."""
    return str(record.get(VISIBILITY) or Visibility.PUBLIC)


def is_owned_by(record: Mapping[str, Any], caller: Owner | None) -> bool:
    return caller is not None and record.get(OWNER) == caller.key


def may_see(record: Mapping[str, Any], caller: Owner | None) -> bool:
    """A private image exists for its owner only."""
    return visibility_of(record) == Visibility.PUBLIC or is_owned_by(record, caller)


def downloadable(record: Mapping[str, Any], name: str, caller: Owner | None) -> bool:
    """Whether `name`'s bytes exist for this caller: its record names it, is not being
    deleted, and the image is public or the caller's."""
    return (
        record.get("name") == name
        and record.get("status") != Status.DELETING
        and may_see(record, caller)
    )


def visibility_choice(asked: object, caller: Owner | None) -> str:
    """`public` (the default, when nothing or an empty value is asked for) or `private`, which
    only a signed-in uploader can choose: an anonymous image could never be seen again."""
    if asked is None or asked == "":
        return Visibility.PUBLIC
    if asked not in VISIBILITIES:
        raise InvalidVisibility('visibility must be "public" or "private".')
    if asked == Visibility.PRIVATE and caller is None:
        raise InvalidVisibility("Only a signed-in user can upload a private image.")
    return str(asked)


def public_view(record: Mapping[str, Any], *, mine: bool = False) -> dict[str, Any]:
    """The record as clients see it (never the token's hash, never the owner), with links to
    its bytes; `mine` is whether the caller owns it."""
    view = {field: record.get(field) for field in PUBLIC_FIELDS}
    view["renditions"] = record.get("renditions") or {}
    view["visibility"] = visibility_of(record)
    view["mine"] = mine
    name = record.get("name")
    view["links"] = {
        "image": f"/download/{name}" if name else None,
        "thumbnail": f"/download-thumbnail/{name}" if name else None,
        "status": f"/images/{record['id']}",
    }
    return view


def _ownership(owner: Owner | None, visibility: str, token_hash: str | None) -> dict[str, Any]:
    """Who may delete the image: its owner, or (anonymous) whoever holds its delete token."""
    if owner is not None:
        return {OWNER: owner.key, VISIBILITY: visibility}
    if visibility != Visibility.PUBLIC or not token_hash:
        raise ValueError("an anonymous image is public and has a delete token")
    return {VISIBILITY: visibility, "delete_token_hash": token_hash}


def pending_record(
    *,
    image_id: str,
    name: str,
    content_type: str,
    size: int,
    width: int,
    height: int,
    filename: str,
    token_hash: str | None,
    owner: Owner | None = None,
    visibility: str = Visibility.PUBLIC,
) -> dict[str, Any]:
    """A complete image whose thumbnails are still to be made (listed at once if public)."""
    created = now()
    record: dict[str, Any] = {
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
        **_ownership(owner, visibility, token_hash),
    }
    if visibility == Visibility.PUBLIC:
        record[FEED_PARTITION] = FEED_PARTITION_VALUE
    return record


def expires_at() -> int:
    """When an unfinished upload's record may go (TTL, epoch seconds): when the bucket's
    lifecycle removes what is left of its bytes."""
    return int(time.time()) + INCOMING_LIFETIME_DAYS * 86_400


def uploading_record(
    *,
    image_id: str,
    filename: str,
    content_type: str,
    size: int,
    token_hash: str | None,
    owner: Owner | None = None,
    visibility: str = Visibility.PUBLIC,
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
        **_ownership(owner, visibility, token_hash),
        EXPIRES_AT: expires_at(),
    }


# A write conditioned on what another writer may change at the same moment is tried again
# after a refusal this many times at most; a retried queue message or request does the rest.
MAX_RACING_WRITES = 5


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
        return self._write(image_id, expression, values, allowed, condition)[0]

    def _write(
        self,
        image_id: str,
        expression: str,
        values: Mapping[str, Any],
        allowed: Iterable[str] = (),
        condition: str | None = None,
    ) -> tuple[Outcome, dict[str, Any]]:
        """`_update`, with the record as written (or, refused, as it was)."""
        allowed = tuple(allowed)
        statuses = {f":allowed{i}": status for i, status in enumerate(allowed)}
        if condition is None:
            condition = f"#status IN ({', '.join(statuses)})"
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={TABLE_KEY: {"S": image_id}},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(#id) AND ({condition})",
                ExpressionAttributeNames={
                    "#id": TABLE_KEY,
                    **{k: v for k, v in _NAMES.items() if k in expression + condition},
                },
                ExpressionAttributeValues=_values({**values, **statuses}),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if not _is_condition_failure(err):
                raise
            old = _item(err.response.get("Item") or {})  # type: ignore[arg-type]
            if old.get("status") in (None, Status.DELETING):
                return Outcome.GONE, old
            return Outcome.UNCHANGED, old
        return Outcome.UPDATED, _item(response.get("Attributes") or {})

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
        """The bytes that arrived are a valid image: it becomes `pending`, named, no longer
        expiring, and listed if it is public.

        Its owner may change the visibility meanwhile (`set_visibility`), so each write is
        conditioned on the visibility it assumes: a change that lands first makes the write
        fail and the other variant is tried, one that lands after sees `pending` and sets the
        feed itself. Either way the feed ends up holding the image exactly when it is public."""
        values = {
            ":pending": Status.PENDING,
            ":name": name,
            ":type": content_type,
            ":size": size,
            ":width": width,
            ":height": height,
            ":now": now(),
            ":uploading": Status.UPLOADING,
            ":rejected": Status.REJECTED,
            ":yes": True,
            ":public": Visibility.PUBLIC,
        }
        named = (
            "SET #status = :pending, #name = :name, #type = :type, #size = :size,"
            " #width = :width, #height = :height, #updated = :now"
        )
        public = "attribute_not_exists(#visibility) OR #visibility = :public"
        variants = (
            (
                f"{named}, #feed = :feed REMOVE #expires, #gave_up, #error",
                {**values, ":feed": FEED_PARTITION_VALUE},
                f"({self._INGESTIBLE}) AND ({public})",
            ),
            (
                f"{named} REMOVE #expires, #gave_up, #error, #feed",
                values,
                f"({self._INGESTIBLE}) AND NOT ({public})",
            ),
        )
        for _ in range(MAX_RACING_WRITES):
            for expression, variant_values, condition in variants:
                outcome, old = self._write(
                    image_id, expression, variant_values, condition=condition
                )
                if outcome is not Outcome.UNCHANGED or not self._ingestible(old):
                    return outcome
        raise RuntimeError(f"{image_id}: its visibility kept changing while it was ingested")

    @staticmethod
    def _ingestible(record: Mapping[str, Any]) -> bool:
        status = record.get("status")
        gave_up = status == Status.REJECTED and bool(record.get("gave_up"))
        return status == Status.UPLOADING or gave_up

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

    # --- owners ----------------------------------------------------------------------------

    def set_visibility(self, record: Mapping[str, Any], visibility: str) -> tuple[Outcome, Any]:
        """Make an owned image public or private: (UPDATED, the record as written), or GONE.

        Private takes it out of the feed in the same write; public puts it in if it is listed
        (`uploading` is not: the worker lists it when it arrives). The write is conditioned
        on the status it was decided from, so a worker moving the image on meanwhile makes it
        read again and decide anew."""
        image_id = record[TABLE_KEY]
        for _ in range(MAX_RACING_WRITES):
            listed = visibility == Visibility.PUBLIC and record.get("status") in LISTED
            expression = "SET #visibility = :visibility, #updated = :now" + (
                ", #feed = :feed" if listed else " REMOVE #feed"
            )
            values = {
                ":visibility": visibility,
                ":now": now(),
                ":owner": record[OWNER],
                ":seen": record.get("status"),
                **({":feed": FEED_PARTITION_VALUE} if listed else {}),
            }
            outcome, written = self._write(
                image_id,
                expression,
                values,
                condition="#owner = :owner AND #status = :seen",
            )
            if outcome is not Outcome.UNCHANGED:
                return outcome, written
            record = written
        raise RuntimeError(f"{image_id}: its status kept changing while its visibility was set")

    def owned(self, owner: str, limit: int, after_id: str | None) -> Page:
        """One page of `owner`'s images, newest first, every status but `deleting`: Queries
        on the sparse owner index (one, unless records being deleted fill a page)."""
        records: list[dict[str, Any]] = []
        start = {TABLE_KEY: {"S": after_id}, OWNER: {"S": owner}} if after_id else None
        while len(records) <= limit:
            query: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": OWNER_INDEX,
                "KeyConditionExpression": "#owner = :owner",
                "FilterExpression": "#status <> :deleting",
                "ExpressionAttributeNames": {"#owner": OWNER, "#status": "status"},
                "ExpressionAttributeValues": _values(
                    {":owner": owner, ":deleting": Status.DELETING}
                ),
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(records),
            }
            if start is not None:
                query["ExclusiveStartKey"] = start
            response = self.client.query(**query)
            records += [_item(raw) for raw in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        if len(records) > limit:
            return Page(records[:limit], records[limit - 1][TABLE_KEY])
        return Page(records, None)

    def owned_ids(self, owner: str, low: str, high: str) -> set[str]:
        """Which ids from `low` to `high` (inclusive) `owner` owns: what makes `mine` true on
        a feed page, whose index holds no owner."""
        found: set[str] = set()
        start = None
        while True:
            query: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": OWNER_INDEX,
                "KeyConditionExpression": "#owner = :owner AND #id BETWEEN :low AND :high",
                "ProjectionExpression": "#id",
                "ExpressionAttributeNames": {"#owner": OWNER, "#id": TABLE_KEY},
                "ExpressionAttributeValues": _values({":owner": owner, ":low": low, ":high": high}),
            }
            if start is not None:
                query["ExclusiveStartKey"] = start
            response = self.client.query(**query)
            found.update(raw[TABLE_KEY]["S"] for raw in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                return found

    def open_tickets(self, owner: str, since_id: str, most: int) -> list[str]:
        """The ids of `owner`'s `uploading` records made after `since_id`, oldest first, at
        most `most` of them (enough to tell whether a cap is reached, and when it frees)."""
        found: list[str] = []
        start = None
        while len(found) < most:
            query: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": OWNER_INDEX,
                "KeyConditionExpression": "#owner = :owner AND #id > :since",
                "FilterExpression": "#status = :uploading",
                "ProjectionExpression": "#id",
                "ExpressionAttributeNames": {
                    "#owner": OWNER,
                    "#id": TABLE_KEY,
                    "#status": "status",
                },
                "ExpressionAttributeValues": _values(
                    {":owner": owner, ":since": since_id, ":uploading": Status.UPLOADING}
                ),
                "ScanIndexForward": True,
            }
            if start is not None:
                query["ExclusiveStartKey"] = start
            response = self.client.query(**query)
            found += [raw[TABLE_KEY]["S"] for raw in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        return found[:most]


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
