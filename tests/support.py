"""The image service as the tests that drive the local runner see it: its bucket, table and
queues, found by logical id in what the runner tells, and an upload."""

from __future__ import annotations

import requests
from image_service import records

from local_runner.harness import RunnerProcess, object_keys, queue_depth

IMAGES_BUCKET = "StorageImages"
CATALOGUE_TABLE = "CatalogueTable"
JOB_QUEUE = "ProcessingQueue"
DEAD_LETTER_QUEUE = "ProcessingDeadLetterQueue"


def images_bucket(runner: RunnerProcess) -> str:
    return runner.resource("buckets", IMAGES_BUCKET)


def catalogue(runner: RunnerProcess) -> records.Catalogue:
    """The runner's catalogue table, read and written as the functions do."""
    return records.Catalogue(runner.client("dynamodb"), runner.resource("tables", CATALOGUE_TABLE))


def job_queue(runner: RunnerProcess) -> str:
    return runner.resource("queues", JOB_QUEUE)


def dead_letter_queue(runner: RunnerProcess) -> str:
    return runner.resource("queues", DEAD_LETTER_QUEUE)


def keys(runner: RunnerProcess, prefix: str = "") -> list[str]:
    return object_keys(runner.client("s3"), images_bucket(runner), prefix)


def depths(runner: RunnerProcess) -> tuple[int, int]:
    """Messages held by (the job queue, its dead-letter queue)."""
    sqs = runner.client("sqs")
    return queue_depth(sqs, job_queue(runner)), queue_depth(sqs, dead_letter_queue(runner))


def post(
    runner: RunnerProcess, body: bytes, content_type: str, **headers: str
) -> requests.Response:
    """POST /upload with a raw body."""
    return requests.post(
        f"{runner.url}/upload",
        data=body,
        headers={"Content-Type": content_type, **headers},
        timeout=60,
    )
