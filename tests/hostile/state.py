"""What a test looks at to say "nothing changed": the bucket's keys and the queue's depth."""

from __future__ import annotations

from typing import Any

QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def object_keys(s3: Any, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Every message the queue holds: visible, in flight or delayed."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNTS))
    return sum(int(value) for value in attributes["Attributes"].values())
