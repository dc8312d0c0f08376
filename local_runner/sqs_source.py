"""Local SQS event source mapping: pollers that hand batches to a function as Lambda does."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local_runner.lambdas import InvocationError
from local_runner.template import EventSourceMapping, Queue

log = logging.getLogger("local_runner")

# Long-poll waits stay short so a shutdown never waits long for a poller.
POLL_WAIT_S = 1
SQS_MAX_MESSAGES = 10  # per ReceiveMessage call

# (function logical id, event) -> the handler's result
Invoke = Callable[[str, Mapping[str, Any]], Any]


def sqs_record(message: Mapping[str, Any], queue: Queue, region: str) -> dict[str, Any]:
    """A message as Lambda's SQS event source hands it over."""
    attributes = {
        key: message.get("Attributes", {}).get(key)
        for key in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        )
    }
    extra = {
        k: v
        for k, v in message.get("Attributes", {}).items()
        if k in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber", "AWSTraceHeader")
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {**attributes, **extra},
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": region,
    }


def failed_ids(result: Any, records: list[dict[str, Any]], report: bool) -> set[str] | None:
    """Message ids to leave on the queue, or None when the whole batch failed.

    Lambda treats an invalid partial-batch response as a failure of the whole batch.
    """
    if not report:
        return set()
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set()  # not a partial-batch response at all: the batch succeeded
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known = {r["messageId"] for r in records}
    ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        ids.add(identifier)
    return ids


class SqsEventSource:
    """`maximum_concurrency` pollers on one queue, each invoking one batch at a time."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        queue: Queue,
        function_name: str,
        client: Callable[[str], Any],
        invoke: Invoke,
        region: str,
    ) -> None:
        self.mapping = mapping
        self.queue = queue
        self.function_name = function_name
        self._client_factory = client
        self._invoke = invoke
        self._region = region
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, name=f"sqs-{i}", daemon=True)
            for i in range(mapping.maximum_concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _receive(self, sqs: Any, count: int, wait_s: int) -> list[dict[str, Any]]:
        response = sqs.receive_message(
            QueueUrl=self.queue.url,
            MaxNumberOfMessages=min(count, SQS_MAX_MESSAGES),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _poll(self) -> None:
        sqs = self._client_factory("sqs")
        size = self.mapping.batch_size
        while not self._stop.is_set():
            try:
                batch = self._receive(sqs, size, POLL_WAIT_S)
                if not batch:
                    continue
                # The batching window: gather more until the batch is full or the window ends.
                window_ends = time.monotonic() + self.mapping.batching_window_s
                while len(batch) < size and time.monotonic() < window_ends:
                    more = self._receive(sqs, size - len(batch), 0)
                    if not more:
                        self._stop.wait(min(0.1, max(0.0, window_ends - time.monotonic())))
                    batch.extend(more)
                self._run(sqs, batch)
            except (BotoCoreError, ClientError) as error:
                if self._stop.is_set():
                    return
                log.warning("sqs %s: %s", self.queue.logical_id, error)
                self._stop.wait(1)

    def _run(self, sqs: Any, batch: list[dict[str, Any]]) -> None:
        records = [sqs_record(m, self.queue, self._region) for m in batch]
        started = time.monotonic()
        try:
            result = self._invoke(self.mapping.function, {"Records": records})
            failed = failed_ids(result, records, self.mapping.report_batch_item_failures)
            outcome = "" if failed is not None else " (invalid batchItemFailures: whole batch)"
        except InvocationError as error:
            failed, outcome = None, f" ({error.error_type})"
        if self._stop.is_set() and failed is None:
            return  # stopped mid-batch: the messages come back after their visibility timeout
        to_delete = [r for r in records if failed is not None and r["messageId"] not in failed]
        if to_delete:
            sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                    for i, r in enumerate(to_delete)
                ],
            )
        failures = len(records) - len(to_delete)
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info(
            "SQS %s batch=%d failures=%d %.0f ms%s",
            self.function_name,
            len(records),
            failures,
            elapsed_ms,
            outcome,
        )
