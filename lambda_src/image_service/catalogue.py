"""GET /images (the feed), GET /images/{id} (one image's state), DELETE /images/{id}, and
where the stage has accounts PATCH /images/{id} (its visibility) and GET /me/images (the
caller's own images).

Who may do what: a private image exists for its owner only (404 to anyone else, on every
route); an owned image is changed and deleted by its owner only (403 to anyone else if it is
public); an anonymous image keeps its delete token, and never gets an owner.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, identity, names, records
from image_service.config import CatalogueConfig
from image_service.contract import (
    ALL_STATUSES,
    FEED_INDEX,
    OWNER,
    OWNER_INDEX,
    VISIBILITIES,
    Status,
    Visibility,
    invalidation_paths,
)
from image_service.errors import (
    Forbidden,
    InvalidCursor,
    InvalidLimit,
    InvalidName,
    InvalidVisibility,
    MalformedRequest,
    NotFound,
    ServiceUnavailable,
)
from image_service.storage import API_BOTO_CONFIG, delete_objects

CONFIG = CatalogueConfig.from_environ(os.environ)
logger = Logger()
s3 = boto3.client("s3", config=API_BOTO_CONFIG)
catalogue = records.Catalogue(boto3.client("dynamodb", config=API_BOTO_CONFIG), CONFIG.table_name)
app, handler = api.rest_function(logger, CONFIG.cors_origins)

DEFAULT_LIMIT = 30
MAX_LIMIT = 100
# A cursor only works on the feed (index) of the table (stage) that issued it; one of an
# owner's listing, only on that owner's.
CURSOR_SCOPE = f"{CONFIG.table_name}/{FEED_INDEX}"


def owner_cursor_scope(owner: identity.Owner) -> str:
    return f"{CONFIG.table_name}/{OWNER_INDEX}/{owner.key}"


# Statuses a client may look at by id; a record being deleted is already gone for them.
VISIBLE = frozenset(ALL_STATUSES) - {Status.DELETING}


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3 or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidLimit(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:20]!r}.")
    return int(raw)


def _id_parameter() -> str:
    image_id = names.valid_id((app.current_event.path_parameters or {}).get("id"))
    if image_id is None:
        raise InvalidName("Not a valid image id (26 characters, Crockford base32, upper case).")
    return image_id


NO_STORE = {"Cache-Control": api.NO_STORE}


def _caller() -> identity.Owner | None:
    return identity.caller(app.current_event.raw_event)


def _paging(scope: str) -> tuple[int, str | None]:
    """`limit` and where the page starts (the id its cursor names), both checked."""
    query = app.current_event.query_string_parameters
    limit = parse_limit(query.get("limit"))
    cursor = query.get("cursor")
    try:
        return limit, records.decode_cursor(cursor, scope) if cursor else None
    except records.BadCursor as err:
        raise InvalidCursor() from err


def _page_body(page: records.Page, scope: str, mine: set[str] | bool) -> dict[str, Any]:
    return {
        "items": [
            records.public_view(
                record, mine=mine if isinstance(mine, bool) else record["id"] in mine
            )
            for record in page.records
        ],
        "next_cursor": records.encode_cursor(page.last_id, scope) if page.last_id else None,
    }


@app.get("/images")
def list_images() -> Response[Any]:
    """The public feed. A signed-in caller's own images in it say `mine`: one more Query, on
    the owner index for the page's id range (the feed index holds no owner)."""
    limit, after = _paging(CURSOR_SCOPE)
    caller = _caller()
    try:
        page = catalogue.feed(limit, after)
        mine: set[str] = set()
        if caller is not None and page.records:
            newest, oldest = page.records[0]["id"], page.records[-1]["id"]
            mine = catalogue.owned_ids(caller.key, oldest, newest)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    return Response(200, api.JSON, _page_body(page, CURSOR_SCOPE, mine), NO_STORE)


@app.get("/me/images")
def list_my_images() -> Response[Any]:
    """The caller's own images, newest first, every status but `deleting`, private included."""
    caller = _signed_in()
    scope = owner_cursor_scope(caller)
    limit, after = _paging(scope)
    try:
        page = catalogue.owned(caller.key, limit, after)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    return Response(200, api.JSON, _page_body(page, scope, True), NO_STORE)


def _signed_in() -> identity.Owner:
    """The caller of a route API Gateway lets only a person reach (its user-pool authorizer);
    reached anyway without one (no authorizer in front), nothing is shown or changed."""
    caller = _caller()
    if caller is None:
        raise Forbidden("This route needs a signed-in user.")
    return caller


def _visible_record(image_id: str, caller: identity.Owner | None) -> dict[str, Any]:
    """The record, if it exists for this caller: a private image is NotFound to anyone but
    its owner, exactly as an image that never existed."""
    try:
        record = catalogue.get(image_id)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    if record is None or record.get("status") not in VISIBLE or not records.may_see(record, caller):
        raise NotFound("No image with this id.")
    return record


# `matched` is the resolver's match; the id used is API Gateway's (see _id_parameter).
@app.get("/images/<matched>")
def get_image(matched: str) -> Response[Any]:
    image_id = _id_parameter()
    caller = _caller()
    record = _visible_record(image_id, caller)
    view = records.public_view(record, mine=records.is_owned_by(record, caller))
    return Response(200, api.JSON, view, NO_STORE)


def read_visibility(body: bytes) -> str:
    """`{"visibility": "public" | "private"}`."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise MalformedRequest('Expected JSON {"visibility": "public" | "private"}.') from err
    visibility = payload.get("visibility") if isinstance(payload, Mapping) else None
    if visibility not in VISIBILITIES:
        raise InvalidVisibility('visibility must be "public" or "private".')
    return str(visibility)


@app.patch("/images/<matched>")
def change_image(matched: str) -> Response[Any]:
    """The owner makes an image public or private. Private leaves the feed in the same write
    and the edge caches by invalidation; public comes back into the feed if it is listed."""
    image_id = _id_parameter()
    caller = _signed_in()
    visibility = read_visibility(api.body_bytes(app.current_event))
    record = _visible_record(image_id, caller)
    if not records.is_owned_by(record, caller):
        raise Forbidden("Only the image's owner can change it.")
    try:
        outcome, written = catalogue.set_visibility(record, visibility)
        if outcome is records.Outcome.GONE:
            raise NotFound("No image with this id.")
        name = written.get("name")
        if visibility == Visibility.PRIVATE and name:
            # Copies kept while it was public must not outlive the change.
            take_off_the_edge(image_id, name, f"private-{image_id}-{written['updated_at']}")
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    logger.append_keys(image_id=image_id, visibility=visibility)
    return Response(200, api.JSON, records.public_view(written, mine=True), NO_STORE)


@functools.cache
def edge_client() -> Any:
    """CloudFront's (global) API, created at the first deletion: the feed pages, which start
    most execution environments, never pay for it."""
    return boto3.client("cloudfront", config=API_BOTO_CONFIG)


def take_off_the_edge(image_id: str, name: str, reference: str | None = None) -> None:
    """Invalidate the image's paths on the distribution, so no edge cache serves it again.
    Without a distribution (the local runner) there is nothing to invalidate.

    A deletion's caller reference is the image's: a retried deletion submits the same batch,
    which CloudFront answers with the invalidation it already has instead of a second one.
    """
    if not CONFIG.distribution_id:
        return
    paths = invalidation_paths(name)
    edge_client().create_invalidation(
        DistributionId=CONFIG.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": reference or f"delete-{image_id}",
        },
    )


@app.delete("/images/<matched>")
def delete_image(matched: str) -> Response[Any]:
    """Hide the image at once (one write), then remove its bytes, take it off the edge
    caches, then remove its record. A fault in between answers 503 and leaves the record
    `deleting`, so a retry finishes the job. Of deletions racing each other, the one that
    removes the record answers 204, the others 404: it is gone by the time they finish."""
    image_id = _id_parameter()
    token = app.current_event.headers.get("X-Delete-Token")
    caller = _caller()
    try:
        record = catalogue.get(image_id)
        if record is None or not records.may_see(record, caller):
            raise NotFound("No image with this id.")
        if record.get(OWNER) is not None:
            # An owned image: its owner only; a delete token never deletes it.
            if not records.is_owned_by(record, caller):
                raise Forbidden("Only the image's owner can delete it.")
        elif not records.token_matches(token, str(record.get("delete_token_hash", ""))):
            raise Forbidden()
        if catalogue.start_delete(image_id) is records.Outcome.GONE:
            raise NotFound("No image with this id.")
        # A direct upload's bytes may still wait under incoming/ (or never came).
        keys = [names.incoming_key(image_id)]
        name = record.get("name")
        if name:
            recorded = record.get("renditions") or {}
            keys += names.image_keys(name, [*CONFIG.renditions, *recorded])
        delete_objects(s3, CONFIG.bucket_name, keys)
        if name:
            # After the bytes are gone: an edge that misses from now on finds nothing.
            take_off_the_edge(image_id, name)
        if catalogue.finish_delete(image_id) is records.Outcome.GONE:
            raise NotFound("No image with this id.")
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    logger.append_keys(image_id=image_id)
    return Response(204, None, "", NO_STORE)
