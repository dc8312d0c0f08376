"""Facts the infrastructure and the functions must agree on, written once.

`stacks/` imports this module to build the template, and the functions import it to read
what the template gave them, so the two sides cannot drift apart. It imports nothing but the
standard library: no boto3, no Powertools, no Pillow, no `aws_cdk`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

# --- the bucket's key layout ---------------------------------------------------------------

ORIGINALS_PREFIX: Final = "originals/"
THUMBNAILS_PREFIX: Final = "thumbnails/"
# Direct uploads land here, at `incoming/<id>`, before the worker validates them. The bucket's
# lifecycle removes what is left after this many days, and a ticket's record (`uploading`)
# expires then too: neither outlives the other.
INCOMING_PREFIX: Final = "incoming/"
INCOMING_LIFETIME_DAYS: Final = 1


class Env:
    """Names of the environment variables the stack sets and the functions read.

    The functions have no defaults of their own: a variable the stack forgot is an error at
    import (a failed cold start), never a silently different behaviour.
    """

    BUCKET_NAME: Final = "BUCKET_NAME"
    QUEUE_URL: Final = "QUEUE_URL"
    MAX_UPLOAD_BYTES: Final = "MAX_UPLOAD_BYTES"
    MAX_DIRECT_UPLOAD_BYTES: Final = "MAX_DIRECT_UPLOAD_BYTES"
    MAX_IMAGE_PIXELS: Final = "MAX_IMAGE_PIXELS"
    MAX_RECEIVE_COUNT: Final = "MAX_RECEIVE_COUNT"
    RENDITIONS: Final = "RENDITIONS"
    DEFAULT_RENDITION: Final = "DEFAULT_RENDITION"
    # The distribution in front of the API; both are empty where there is none (the local
    # runner): its host name, where a new image's Location points for clients that came
    # through it, and its id, to take a deleted image off its edge caches.
    PUBLIC_HOST: Final = "PUBLIC_HOST"
    DISTRIBUTION_ID: Final = "DISTRIBUTION_ID"
    # Which shared caches may keep a downloaded image: a SharedCaches value.
    SHARED_CACHES: Final = "SHARED_CACHES"
    # Comma-separated origins; empty means no CORS headers at all.
    CORS_ORIGINS: Final = "CORS_ORIGINS"
    TABLE_NAME: Final = "TABLE_NAME"
    # The optional authorizer's: who issues the ID tokens it accepts (the user pool's issuer
    # URL), for which app client, and where the pool publishes its signing keys.
    TOKEN_ISSUER: Final = "TOKEN_ISSUER"  # noqa: S105 (a variable's name, no secret)
    TOKEN_AUDIENCE: Final = "TOKEN_AUDIENCE"  # noqa: S105
    JWKS_URL: Final = "JWKS_URL"


# --- the catalogue table -------------------------------------------------------------------


class Status:
    """An image's state; the catalogue record is the only place it is kept.

    uploading -> pending -> ready | failed; uploading -> rejected; any -> deleting -> (gone).
    """

    UPLOADING: Final = "uploading"  # a direct-upload ticket waiting for its bytes
    PENDING: Final = "pending"  # stored, thumbnails being made
    READY: Final = "ready"
    FAILED: Final = "failed"  # no thumbnails could be made
    REJECTED: Final = "rejected"  # the bytes that arrived are not an acceptable image
    DELETING: Final = "deleting"  # taken down; its objects are being removed


ALL_STATUSES: Final = (
    Status.UPLOADING,
    Status.PENDING,
    Status.READY,
    Status.FAILED,
    Status.REJECTED,
    Status.DELETING,
)
# Statuses shown in the feed; the others are the uploader's business only.
LISTED: Final = (Status.PENDING, Status.READY, Status.FAILED)

TABLE_KEY: Final = "id"  # the image id (a ULID), the table's partition key
# A sparse index: only listed records carry FEED_PARTITION, so the feed is one Query on it,
# newest first by the id, whose leading bits are the upload time.
FEED_INDEX: Final = "feed"
FEED_PARTITION: Final = "feed"
FEED_PARTITION_VALUE: Final = "all"
EXPIRES_AT: Final = "expires_at"  # the TTL attribute, in epoch seconds
# A record's fields that its owner and the feed may see (never the delete token's hash).
PUBLIC_FIELDS: Final = (
    TABLE_KEY,
    "name",
    "status",
    "content_type",
    "size",
    "width",
    "height",
    "filename",
    "created_at",
    "renditions",
    "error",
)
# What the feed index projects besides the keys, which every index carries: the public fields.
FEED_PROJECTION: Final = tuple(field for field in PUBLIC_FIELDS if field != TABLE_KEY)

# --- accounts ------------------------------------------------------------------------------

# Who owns a record: `identity.Owner.key`, the token issuer and subject. Absent on anonymous
# uploads (and on every record made before accounts existed).
OWNER: Final = "owner"
# `public` or `private`; absent means public, so records made before accounts stay public.
VISIBILITY: Final = "visibility"


class Visibility:
    PUBLIC: Final = "public"
    PRIVATE: Final = "private"


VISIBILITIES: Final = (Visibility.PUBLIC, Visibility.PRIVATE)
# A sparse index of owned records only (anonymous ones carry no `owner`): one owner's images,
# newest first by the id, one Query a page. It projects the public fields and the visibility.
OWNER_INDEX: Final = "by-owner"
OWNER_PROJECTION: Final = (*FEED_PROJECTION, VISIBILITY)
# Direct-upload tickets (`uploading` records from the last day) one signed-in user may hold.
MAX_OPEN_TICKETS: Final = 20


def catalogue_keys(*, owner_index: bool = True) -> dict[str, Any]:
    """The table's keys and its indexes in the CreateTable API's shape: what the stack
    declares (a test compares the template with it) and what the tests create in moto. The
    owner index exists where the stage has accounts."""
    indexes = [(FEED_INDEX, FEED_PARTITION, FEED_PROJECTION)]
    if owner_index:
        indexes.append((OWNER_INDEX, OWNER, OWNER_PROJECTION))
    return {
        "AttributeDefinitions": [
            {"AttributeName": TABLE_KEY, "AttributeType": "S"},
            *({"AttributeName": partition, "AttributeType": "S"} for _, partition, _ in indexes),
        ],
        "KeySchema": [{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": TABLE_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(projection),
                },
            }
            for name, partition, projection in indexes
        ],
    }


# --- thumbnail renditions ------------------------------------------------------------------

FITS: Final = ("contain", "cover")
RENDITION_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,31}")
MAX_EDGE: Final = 4096


class ContractError(ValueError):
    """A value breaks the contract; the message names the offending field."""


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    fit: str  # "contain" (fit inside the box) or "cover" (fill the box, centre crop)


def parse_renditions(spec: Any, where: str = "renditions") -> tuple[Rendition, ...]:
    """`{name: {width, height, fit}}` as cdk.json and the environment write it, validated."""
    if not isinstance(spec, Mapping) or not spec:
        raise ContractError(
            f"{where}: expected a non-empty object {{name: {{width, height, fit}}}}"
        )
    renditions = []
    for name, box in spec.items():
        if not isinstance(name, str) or not RENDITION_NAME.fullmatch(name):
            raise ContractError(f"{where}: name {name!r} must match {RENDITION_NAME.pattern}")
        if not isinstance(box, Mapping) or set(box) != {"width", "height", "fit"}:
            raise ContractError(f"{where}.{name}: expected exactly {{width, height, fit}}")
        for edge in ("width", "height"):
            value = box[edge]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_EDGE:
                raise ContractError(
                    f"{where}.{name}.{edge}: {value!r} is not a whole number from 1 to {MAX_EDGE}"
                )
        if box["fit"] not in FITS:
            raise ContractError(
                f"{where}.{name}.fit: {box['fit']!r} is not one of {', '.join(FITS)}"
            )
        renditions.append(Rendition(name, box["width"], box["height"], box["fit"]))
    return tuple(renditions)


def renditions_spec(renditions: Iterable[Rendition]) -> dict[str, dict[str, Any]]:
    """`{name: {width, height, fit}}`, what `parse_renditions` reads, in the configured order."""
    return {r.name: {"width": r.width, "height": r.height, "fit": r.fit} for r in renditions}


def renditions_to_json(renditions: Iterable[Rendition]) -> str:
    """The `RENDITIONS` variable's value: compact JSON."""
    return json.dumps(renditions_spec(renditions), separators=(",", ":"))


def renditions_from_json(text: str) -> tuple[Rendition, ...]:
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise ContractError(f"{Env.RENDITIONS}: not JSON ({err})") from err
    return parse_renditions(spec, Env.RENDITIONS)


def origins_to_env(origins: Iterable[str]) -> str:
    return ",".join(origins)


def origins_from_env(text: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in text.split(",") if origin.strip())


# --- the worker's metrics (CloudWatch embedded metric format) ------------------------------
# The worker prints them into its log stream with Powertools `Metrics` (no API call);
# CloudWatch turns them into metrics, which the stack's alarm and dashboard read.

# The stack passes it to the worker as POWERTOOLS_METRICS_NAMESPACE.
METRICS_NAMESPACE: Final = "ImageService"
# POWERTOOLS_SERVICE_NAME of every function: the `service` key of each log line, and a
# dimension Powertools adds to every metric.
SERVICE_NAME: Final = "image-service"


class MetricDimension:
    """The dimensions of every worker metric, all of them: an alarm matches a metric only
    when it names exactly the dimensions the metric was published with."""

    # Added by Powertools, with SERVICE_NAME as its value.
    SERVICE: Final = "service"
    # The worker function's own (generated) name: two stages, or two copies of the stack in
    # one account and region, never add up into one series.
    FUNCTION_NAME: Final = "FunctionName"


class WorkerMetric:
    """Names of the worker's metrics in METRICS_NAMESPACE, one value per job (SQS record)."""

    # Count: jobs whose every rendition was stored.
    RENDERED: Final = "ImagesRendered"
    # Count: jobs that failed this try (retried, or on to the dead-letter queue after the last).
    FAILED: Final = "RendersFailed"
    # Milliseconds per rendered job: read the original, render every rendition, store them.
    RENDER_TIME: Final = "RenderTime"


# --- delivery through the distribution ----------------------------------------------------

# The routes the distribution caches, and what takes an image off its edge caches.
ORIGINAL_PATH: Final = "/download/"  # + <name>
THUMBNAIL_PATH: Final = "/download-thumbnail/"  # + <name>
# The query parameters that change a thumbnail; the edge's cache key holds these and no others.
THUMBNAIL_QUERY: Final = ("size", "format")
# The distribution adds this header to every request it sends to the API, replacing any a
# viewer sent. Anyone calling the API directly can send it too, so it only ever chooses
# between two answers that are both safe for that caller: the stack's own public host in a
# Location, and "public" instead of "private" for an image the caller's API key already got.
EDGE_HEADER: Final = "X-Image-Service-Edge"
EDGE_HEADER_VALUE: Final = "cloudfront"


class SharedCaches:
    """Which shared caches may keep a downloaded image (`SHARED_CACHES`)."""

    # The stage needs no API key: any cache may keep an image.
    ANY: Final = "any"
    # Every route needs an API key: only the distribution, whose cache key holds X-Api-Key,
    # may keep an image; any other cache is told "private".
    EDGE: Final = "edge"


def invalidation_paths(name: str) -> list[str]:
    """The paths that take an image off the edge: its original, and its thumbnails in every
    size and format (the wildcard covers the query strings in the cache key)."""
    return [f"{ORIGINAL_PATH}{name}", f"{THUMBNAIL_PATH}{name}*"]
