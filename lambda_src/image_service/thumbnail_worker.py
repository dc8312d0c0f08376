"""SQS worker: turns direct uploads into images and renders every configured rendition of an
original, then records the outcome in the catalogue.

Two kinds of message arrive on the queue:
- the upload function's job for `originals/<name>` (`POST /upload`): render, record `ready`;
- the bucket's `ObjectCreated` event for `incoming/<id>` (a direct upload): check the real size,
  read the type from the bytes, decode once to validate and to render, write the bytes read
  to `originals/<id>.<ext>`, record `pending` (now named and listed), remove `incoming/<id>`,
  store the thumbnails, record `ready`. Bytes that are not an acceptable image are removed
  and the record becomes `rejected`. S3's `s3:TestEvent` is ignored.

Every step can be repeated: the same event twice, or a retry after a crash at any step, ends
in the same state. An object whose record is not a waiting ticket (unknown, deleted, already
ingested: a second upload to a used ticket) is removed and never catalogued.

Failure policy: a record that fails is reported in `batchItemFailures`, never raised, so the
rest of the batch is not retried with it. When it can never succeed (the original does not
decode) or this is its last delivery, the catalogue record becomes `failed` (or, for a direct
upload never validated, `rejected`), so clients see an outcome instead of "pending" forever;
the message still goes on to the dead-letter queue for the alarm. On the last delivery the
record is marked *before* the work, because a worker that is killed (out of memory, timeout)
runs no handler code afterwards; work that then succeeds moves it on.

Deletion wins every race: each outcome is a conditional update that a deleted (or deleting)
record refuses, and a worker whose update is refused removes what it wrote.

Each job adds one value to the metrics in `contract.WorkerMetric` (rendered or failed, and
the render time), printed once per batch in CloudWatch's embedded metric format.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_service import imaging, names, records
from image_service.config import WorkerConfig
from image_service.contract import MetricDimension, Status, WorkerMetric
from image_service.errors import InvalidImage, PayloadTooLarge, UnsupportedMediaType
from image_service.records import Outcome
from image_service.storage import delete_objects, get_object

CONFIG = WorkerConfig.from_environ(os.environ)
logger = Logger()
metrics = Metrics()  # namespace and service from POWERTOOLS_METRICS_NAMESPACE / _SERVICE_NAME
s3 = boto3.client("s3")
catalogue = records.Catalogue(boto3.client("dynamodb"), CONFIG.table_name)
# Always answer with batchItemFailures, even when every record failed, so the event source
# retries exactly the failed messages and the local runner sees one behaviour.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

GAVE_UP = ("RenderFailed", "No thumbnail could be made after repeated errors.")
NOT_PROCESSED = ("InvalidImage", "The image could not be processed.")


class BadMessage(ValueError):
    """The message is not a job this worker can ever do (it ends in the DLQ)."""


@dataclass(frozen=True)
class Job:
    """Render the original `originals/<name>`."""

    name: str

    @property
    def id(self) -> str:
        return names.id_of(self.name)

    @property
    def key(self) -> str:
        return names.original_key(self.name)


@dataclass(frozen=True)
class Arrival:
    """A direct upload's bytes arrived at `incoming/<id>`."""

    id: str

    @property
    def key(self) -> str:
        return names.incoming_key(self.id)


def parse_message(body: str) -> list[Job | Arrival]:
    """The work a queue message asks for (none for S3's test event); BadMessage if it is not
    a message this worker can ever handle."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError as err:
        raise BadMessage("body is not JSON") from err
    if not isinstance(message, dict):
        raise BadMessage("body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    if "Records" in message:
        return [_arrival(record) for record in message["Records"] or [None]]
    if message.get("v") != 1:
        raise BadMessage("not a version 1 job message")
    if message.get("bucket") != CONFIG.bucket_name:
        raise BadMessage("job names another bucket")
    key = message.get("key")
    name = names.name_from_original_key(key) if isinstance(key, str) else None
    if name is None or message.get("id") != names.id_of(name):
        raise BadMessage("key is not originals/<name> of the job's id")
    return [Job(name)]


def _arrival(record: Any) -> Arrival:
    """An S3 event record (keys are URL-encoded) for an object created under incoming/."""
    try:
        if record["eventSource"] != "aws:s3" or not record["eventName"].startswith(
            "ObjectCreated:"
        ):
            raise BadMessage("not an S3 ObjectCreated event")
        bucket, key = record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]
    except (KeyError, TypeError, AttributeError) as err:
        raise BadMessage("not an S3 event record") from err
    if bucket != CONFIG.bucket_name:
        raise BadMessage("event from another bucket")
    image_id = names.id_from_incoming_key(key) if isinstance(key, str) else None
    if image_id is None:
        raise BadMessage("key is not incoming/<id>")
    return Arrival(image_id)


def remove(keys: list[str]) -> None:
    delete_objects(s3, CONFIG.bucket_name, keys)


def thumbnail_keys(name: str) -> list[str]:
    return names.image_keys(name, CONFIG.renditions)[1:]


def store_thumbnails(name: str, rendered: dict[str, imaging.Rendered]) -> None:
    """Each rendition as it is (JPEG, or WebP where transparent), and as WebP beside it."""
    for rendition, thumbnail in rendered.items():
        variants = [(names.thumbnail_key(rendition, name), thumbnail.body, thumbnail.content_type)]
        if thumbnail.webp is not None:
            variants.append(
                (
                    names.webp_thumbnail_key(rendition, name),
                    thumbnail.webp,
                    imaging.WEBP.content_type,
                )
            )
        for key, body, content_type in variants:
            s3.put_object(
                Bucket=CONFIG.bucket_name,
                Key=key,
                Body=body,
                ContentType=content_type,
            )


def renditions_field(rendered: dict[str, imaging.Rendered]) -> dict[str, Any]:
    return {
        rendition: {
            "content_type": t.content_type,
            "width": t.width,
            "height": t.height,
            "bytes": len(t.body),
            **({"webp_bytes": len(t.webp)} if t.webp is not None else {}),
        }
        for rendition, t in rendered.items()
    }


def finish(job: Job, rendered: dict[str, imaging.Rendered], log: dict[str, Any]) -> bool:
    """Store the thumbnails and record `ready`; False when the image was deleted meanwhile
    (what was stored is removed again)."""
    store_thumbnails(job.name, rendered)
    if catalogue.mark_ready(job.id, renditions_field(rendered)) is Outcome.GONE:
        remove(thumbnail_keys(job.name))
        logger.info("image deleted while rendering; thumbnails removed", extra=log)
        return False
    return True


def render(job: Job, attempts: int, log: dict[str, Any]) -> bool:
    """Render an original: True when it is `ready`, False when the image is gone."""
    last_try = attempts >= CONFIG.max_receive_count
    if last_try and catalogue.mark_failed(job.id, *GAVE_UP) is Outcome.GONE:
        logger.info("image deleted; job dropped", extra=log)
        return False
    stored = get_object(s3, CONFIG.bucket_name, job.key)
    if stored is None:
        if catalogue.is_gone(job.id):
            logger.info("image deleted; job dropped", extra=log)
            return False
        raise LookupError(f"{job.key} is missing while its image is not deleted")
    try:
        rendered = imaging.render_renditions(
            stored.read(), CONFIG.renditions.values(), max_pixels=CONFIG.max_image_pixels, webp=True
        )
    except (InvalidImage, UnsupportedMediaType) as err:
        logger.error("job failed for good", extra={**log, "reason": err.message})
        catalogue.mark_failed(job.id, err.code, err.message)
        raise
    return finish(job, rendered, log)


def ingest(arrival: Arrival, attempts: int, log: dict[str, Any]) -> bool:
    """Turn a direct upload into an image (True once `ready`), or refuse it (False)."""
    record = catalogue.get(arrival.id)
    status = record.get("status") if record else None
    waiting = status == Status.UPLOADING or (
        status == Status.REJECTED and record is not None and record.get("gave_up")
    )
    if not waiting:
        # Unknown, deleted, rejected, or already ingested (a duplicate event, or a second
        # upload to a used ticket): these bytes never become an image.
        remove([arrival.key])
        logger.info("upload not awaited; removed", extra={**log, "status": status})
        if status == Status.PENDING and record is not None:
            return render(Job(record["name"]), attempts, log)  # a retry after a crash
        return False
    last_try = attempts >= CONFIG.max_receive_count
    if last_try and catalogue.mark_rejected(arrival.id, *NOT_PROCESSED, gave_up=True) is (
        Outcome.GONE
    ):
        remove([arrival.key])
        return False
    stored = get_object(s3, CONFIG.bucket_name, arrival.key)
    if stored is None:  # taken already, or expired by the lifecycle rule
        logger.info("upload object gone; nothing to do", extra=log)
        return False
    try:
        if stored.length > CONFIG.max_direct_upload_bytes:
            stored.close()
            raise PayloadTooLarge(
                f"The image is larger than {CONFIG.max_direct_upload_bytes} bytes."
            )
        data = stored.read()
        probe, rendered = imaging.ingest(
            data, CONFIG.renditions.values(), max_pixels=CONFIG.max_image_pixels, webp=True
        )
    except (InvalidImage, UnsupportedMediaType, PayloadTooLarge) as err:
        remove([arrival.key])
        catalogue.mark_rejected(arrival.id, err.code, err.message)
        logger.info("upload rejected", extra={**log, "code": err.code})
        return False
    name = f"{arrival.id}.{probe.image_type.extension}"
    log["image_name"] = name
    # The bytes that were decoded, not whatever incoming/<id> holds by now: a ticket can be
    # posted to again until it expires, and a copy would take the later bytes unchecked.
    s3.put_object(
        Bucket=CONFIG.bucket_name,
        Key=names.original_key(name),
        Body=data,
        ContentType=probe.image_type.content_type,
    )
    outcome = catalogue.mark_ingested(
        arrival.id,
        name=name,
        content_type=probe.image_type.content_type,
        size=len(data),
        width=probe.width,
        height=probe.height,
    )
    if outcome is Outcome.GONE:
        remove([arrival.key, names.original_key(name)])
        logger.info("upload deleted meanwhile; removed", extra=log)
        return False
    if outcome is Outcome.UNCHANGED:
        # Another delivery of this event got there first (the same name), or another arrival
        # on the ticket settled it (rejected, or another type): that one's original stands.
        record = catalogue.get(arrival.id)
        if record is None or record.get("name") != name:
            remove([names.original_key(name)])
            logger.info("ticket settled by another arrival; original removed", extra=log)
        return False
    remove([arrival.key])
    return finish(Job(name), rendered, log)


def record_handler(record: SQSRecord) -> None:
    try:
        render_time_ms = render_record(record)
    except Exception:
        metrics.add_metric(name=WorkerMetric.FAILED, unit=MetricUnit.Count, value=1)
        raise
    if render_time_ms is None:
        return  # nothing rendered (deleted, refused, a test event), nothing failed
    metrics.add_metric(name=WorkerMetric.RENDERED, unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name=WorkerMetric.RENDER_TIME, unit=MetricUnit.Milliseconds, value=render_time_ms
    )


def render_record(record: SQSRecord) -> float | None:
    """Do the record's work: its time in milliseconds, or None if nothing was rendered."""
    started = time.perf_counter()
    attempts = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    log: dict[str, Any] = {"message_id": record.message_id, "attempts": attempts}
    try:
        work = parse_message(record.body)
    except BadMessage as err:
        logger.error("message refused", extra={**log, "reason": str(err)})
        raise
    rendered = False
    for item in work:
        try:
            if isinstance(item, Arrival):
                log["image_id"] = item.id
                rendered = ingest(item, attempts, log) or rendered
            else:
                log["image_name"] = item.name
                rendered = render(item, attempts, log) or rendered
        except (InvalidImage, UnsupportedMediaType):
            raise  # logged where it was found
        except Exception:
            logger.exception("job failed", extra=log)
            raise
    if not rendered:
        return None
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    logger.info("job done", extra={**log, "duration_ms": duration_ms})
    return duration_ms


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_dimension(name=MetricDimension.FUNCTION_NAME, value=context.function_name)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
