"""GET /images (the feed), GET /images/{id} (one image's state), DELETE /images/{id}."""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.exceptions import BotoCoreError, ClientError

from image_service import api, names, records
from image_service.config import CatalogueConfig
from image_service.contract import ALL_STATUSES, FEED_INDEX, Status, invalidation_paths
from image_service.errors import (
    Forbidden,
    InvalidCursor,
    InvalidLimit,
    InvalidName,
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
# A cursor only works on the feed (index) of the table (stage) that issued it.
CURSOR_SCOPE = f"{CONFIG.table_name}/{FEED_INDEX}"
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


@app.get("/images")
def list_images() -> Response[Any]:
    query = app.current_event.query_string_parameters
    limit = parse_limit(query.get("limit"))
    cursor = query.get("cursor")
    try:
        after = records.decode_cursor(cursor, CURSOR_SCOPE) if cursor else None
    except records.BadCursor as err:
        raise InvalidCursor() from err
    try:
        page = catalogue.feed(limit, after)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    body = {
        "items": [records.public_view(record) for record in page.records],
        "next_cursor": records.encode_cursor(page.last_id, CURSOR_SCOPE) if page.last_id else None,
    }
    return Response(200, api.JSON, body, NO_STORE)


# `matched` is the resolver's match; the id used is API Gateway's (see _id_parameter).
@app.get("/images/<matched>")
def get_image(matched: str) -> Response[Any]:
    image_id = _id_parameter()
    try:
        record = catalogue.get(image_id)
    except (ClientError, BotoCoreError) as err:
        raise ServiceUnavailable() from err
    if record is None or record.get("status") not in VISIBLE:
        raise NotFound("No image with this id.")
    return Response(200, api.JSON, records.public_view(record), NO_STORE)


@functools.cache
def edge_client() -> Any:
    """CloudFront's (global) API, created at the first deletion: the feed pages, which start
    most execution environments, never pay for it."""
    return boto3.client("cloudfront", config=API_BOTO_CONFIG)


def take_off_the_edge(image_id: str, name: str) -> None:
    """Invalidate the image's paths on the distribution, so no edge cache serves it again.
    Without a distribution (the local runner) there is nothing to invalidate.

    The caller reference is the image's: a retried deletion submits the same batch, which
    CloudFront answers with the invalidation it already has instead of a second one.
    """
    if not CONFIG.distribution_id:
        return
    paths = invalidation_paths(name)
    edge_client().create_invalidation(
        DistributionId=CONFIG.distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": f"delete-{image_id}",
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
    try:
        record = catalogue.get(image_id)
        if record is None:
            raise NotFound("No image with this id.")
        if not records.token_matches(token, str(record.get("delete_token_hash", ""))):
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
