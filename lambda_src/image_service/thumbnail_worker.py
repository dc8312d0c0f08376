"""SQS worker: renders every configured rendition of an uploaded original, then records the
outcome in the catalogue.

Failure policy: a record that fails is reported in `batchItemFailures`, never raised, so the
rest of the batch is not retried with it. When it can never succeed (the original does not
decode) or this is its last delivery, the catalogue record becomes `failed`, so clients see
an outcome instead of "pending" forever; the message still goes on to the dead-letter queue
for the alarm. On the last delivery the record is marked *before* rendering, because a worker
that is killed (out of memory, timeout) runs no handler code afterwards; a render that then
succeeds makes it `ready`.

Deletion wins every race: each outcome is a conditional update that a deleted (or deleting)
record refuses, and a worker whose update is refused removes the thumbnails it wrote.

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
from botocore.exceptions import ClientError

from image_service import imaging, names, records
from image_service.config import WorkerConfig
from image_service.contract import MetricDimension, WorkerMetric
from image_service.errors import InvalidImage, UnsupportedMediaType
from image_service.records import Outcome
from image_service.storage import delete_objects, is_missing

CONFIG = WorkerConfig.from_environ(os.environ)
logger = Logger()
metrics = Metrics()  # namespace and service from POWERTOOLS_METRICS_NAMESPACE / _SERVICE_NAME
s3 = boto3.client("s3")
catalogue = records.Catalogue(boto3.client("dynamodb"), CONFIG.table_name)
# Always answer with batchItemFailures, even when every record failed, so the event source
# retries exactly the failed messages and the local runner sees one behaviour.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

THUMBNAIL_CACHE_CONTROL = "private, max-age=86400"
GAVE_UP = ("RenderFailed", "No thumbnail could be made after repeated errors.")


class BadMessage(ValueError):
    """The message is not a job this worker can ever do (it ends in the DLQ, no marker)."""


@dataclass(frozen=True)
class Job:
    name: str
    key: str

    @property
    def id(self) -> str:
        return self.name.split(".", 1)[0]


def parse_job(body: str) -> Job:
    try:
        message = json.loads(body)
    except json.JSONDecodeError as err:
        raise BadMessage("body is not JSON") from err
    if not isinstance(message, dict) or message.get("v") != 1:
        raise BadMessage("not a version 1 job message")
    if message.get("bucket") != CONFIG.bucket_name:
        raise BadMessage("job names another bucket")
    key = message.get("key")
    name = names.name_from_original_key(key) if isinstance(key, str) else None
    if name is None or message.get("id") != name.split(".", 1)[0]:
        raise BadMessage("key is not originals/<name> of the job's id")
    return Job(name=name, key=names.original_key(name))


def remove_thumbnails(job: Job) -> None:
    """The image was deleted while its job ran: nothing of it may come back."""
    keys = [names.thumbnail_key(rendition, job.name) for rendition in CONFIG.renditions]
    delete_objects(s3, CONFIG.bucket_name, keys)


def render_job(job: Job) -> dict[str, imaging.Rendered]:
    """Render every rendition from one decode of the original and store them."""
    original = s3.get_object(Bucket=CONFIG.bucket_name, Key=job.key)["Body"].read()
    rendered = imaging.render_renditions(
        original, CONFIG.renditions.values(), max_pixels=CONFIG.max_image_pixels
    )
    for rendition, thumbnail in rendered.items():
        s3.put_object(
            Bucket=CONFIG.bucket_name,
            Key=names.thumbnail_key(rendition, job.name),
            Body=thumbnail.body,
            ContentType=thumbnail.content_type,
            CacheControl=THUMBNAIL_CACHE_CONTROL,
        )
    return rendered


def record_handler(record: SQSRecord) -> None:
    try:
        render_time_ms = render_record(record)
    except Exception:
        metrics.add_metric(name=WorkerMetric.FAILED, unit=MetricUnit.Count, value=1)
        raise
    if render_time_ms is None:
        return  # the image was deleted: nothing was rendered, nothing failed
    metrics.add_metric(name=WorkerMetric.RENDERED, unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name=WorkerMetric.RENDER_TIME, unit=MetricUnit.Milliseconds, value=render_time_ms
    )


def render_record(record: SQSRecord) -> float | None:
    """Do the record's job: its time in milliseconds, or None if the image was deleted."""
    started = time.perf_counter()
    attempts = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    log: dict[str, Any] = {"message_id": record.message_id, "attempts": attempts}
    try:
        job = parse_job(record.body)
    except BadMessage as err:
        logger.error("job refused", extra={**log, "reason": str(err)})
        raise
    log["image_name"] = job.name
    last_try = attempts >= CONFIG.max_receive_count
    if last_try and catalogue.mark_failed(job.id, *GAVE_UP) is Outcome.GONE:
        logger.info("image deleted; job dropped", extra=log)
        return None
    try:
        rendered = render_job(job)
    except (InvalidImage, UnsupportedMediaType) as err:
        logger.error("job failed for good", extra={**log, "reason": err.message})
        catalogue.mark_failed(job.id, err.code, err.message)
        raise
    except ClientError as err:
        if is_missing(err) and catalogue.is_gone(job.id):
            logger.info("image deleted; job dropped", extra=log)
            return None
        logger.exception("job failed", extra={**log, "last_try": last_try})
        raise
    except Exception:
        logger.exception("job failed", extra={**log, "last_try": last_try})
        raise
    outcome = catalogue.mark_ready(
        job.id,
        {
            rendition: {
                "content_type": t.content_type,
                "width": t.width,
                "height": t.height,
                "bytes": len(t.body),
            }
            for rendition, t in rendered.items()
        },
    )
    if outcome is Outcome.GONE:
        remove_thumbnails(job)
        logger.info("image deleted while rendering; thumbnails removed", extra=log)
        return None
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    sizes = {rendition: len(t.body) for rendition, t in rendered.items()}
    logger.info("job done", extra={**log, "bytes": sizes, "duration_ms": duration_ms})
    return duration_ms


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_dimension(name=MetricDimension.FUNCTION_NAME, value=context.function_name)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
