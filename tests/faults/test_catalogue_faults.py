"""The catalogue table failing, with the fault patterns used for storage and queue.

Upload: a table fault answers 503 and leaves nothing (no original, no record, no job).
Worker: a table fault fails the record; the retry ends `ready`, or `failed` once the retries
run out. Delete: a fault answers 503, and a retry completes the delete.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_runner.harness import object_keys, queue_depth
from samples import images
from tests.faults.test_unit_faults import FAULTS, flaky, queued_job
from tests.functions.conftest import (
    BUCKET,
    MAX_RECEIVE_COUNT,
    QUEUE_URL,
    Aws,
    Functions,
    LambdaContext,
    error_of,
    headers_of,
    sqs_event,
    upload_event,
)
from tests.functions.test_catalogue import catalogue_event


def upload(functions: Functions, context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = functions.upload.handler(
        upload_event(images.jpeg(320, 240)), context
    )
    return response


def nothing_left(aws: Aws) -> bool:
    return (
        object_keys(aws.s3, BUCKET) == []
        and aws.record_ids() == []
        and queue_depth(aws.sqs, QUEUE_URL) == 0
    )


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_table_fault_on_upload_answers_503_and_leaves_nothing(
    functions: Functions, aws: Aws, context: LambdaContext, fault: str
) -> None:
    client = functions.upload.catalogue.client
    with flaky(client, "put_item", FAULTS[fault]("PutItem")) as put:
        response = upload(functions, context)
    assert put.calls == 1
    assert error_of(response) == (503, "ServiceUnavailable")
    assert headers_of(response)["Retry-After"].isdigit()
    assert nothing_left(aws)


def test_a_queue_fault_after_the_record_takes_back_record_and_original(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    with flaky(functions.upload.sqs, "send_message", FAULTS["InternalError-500"]("SendMessage")):
        response = upload(functions, context)
    assert error_of(response) == (503, "ServiceUnavailable")
    assert nothing_left(aws)


# Worker ----------------------------------------------------------------------------------


def run(functions: Functions, context: LambdaContext, body: str, attempt: int) -> Any:
    return functions.worker.handler(sqs_event(body, receive_count=attempt), context)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_table_fault_in_the_worker_is_retried_until_ready(
    functions: Functions, aws: Aws, context: LambdaContext, fault: str
) -> None:
    created = json.loads(upload(functions, context)["body"])
    job = queued_job(aws)
    client = functions.worker.catalogue.client
    failures = MAX_RECEIVE_COUNT - 1
    with flaky(client, "update_item", FAULTS[fault]("UpdateItem"), failures) as update:
        outcomes = [run(functions, context, job, attempt) for attempt in range(1, failures + 1)]
        assert all(o["batchItemFailures"] for o in outcomes)
        assert aws.record(created["id"])["status"] == "pending"  # type: ignore[index]
        assert run(functions, context, job, MAX_RECEIVE_COUNT) == {"batchItemFailures": []}
    assert update.calls == failures + 2  # the last try marks failed first, then ready
    record = aws.record(created["id"])
    assert record is not None
    assert record["status"] == "ready"
    assert set(record["renditions"]) == {"thumb", "square"}


def test_a_table_fault_that_outlasts_the_retries_ends_failed_not_pending(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """Every `ready` update fails: the last try's `failed` mark (written before the render)
    is what stays, so the image shows an outcome instead of pending forever."""
    created = json.loads(upload(functions, context)["body"])
    job = queued_job(aws)
    client = functions.worker.catalogue.client
    fault = FAULTS["ServiceUnavailable-503"]("UpdateItem")

    def marking_ready(kwargs: dict[str, Any]) -> bool:
        return ":ready" in kwargs["ExpressionAttributeValues"]

    with flaky(client, "update_item", fault, when=marking_ready):
        for attempt in range(1, MAX_RECEIVE_COUNT + 1):
            assert run(functions, context, job, attempt)["batchItemFailures"]
    record = aws.record(created["id"])
    assert record is not None
    assert record["status"] == "failed"
    assert record["error"]["code"] == "RenderFailed"


# Delete ----------------------------------------------------------------------------------


def delete(functions: Functions, context: LambdaContext, created: dict[str, Any]) -> Any:
    event = catalogue_event("DELETE", created["id"], {"X-Delete-Token": created["delete_token"]})
    return functions.catalogue.handler(event, context)


def rendered(functions: Functions, aws: Aws, context: LambdaContext) -> dict[str, Any]:
    created: dict[str, Any] = json.loads(upload(functions, context)["body"])
    assert run(functions, context, queued_job(aws), 1) == {"batchItemFailures": []}
    return created


@pytest.mark.parametrize(
    ("client", "method", "hidden"),
    [
        ("dynamodb", "get_item", False),
        ("dynamodb", "update_item", False),
        ("s3", "delete_objects", True),
        ("dynamodb", "delete_item", True),
    ],
)
@pytest.mark.parametrize("fault", ["ServiceUnavailable-503", "connection-refused"])
def test_a_fault_during_delete_answers_503_and_a_retry_completes_it(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    client: str,
    method: str,
    hidden: bool,
    fault: str,
) -> None:
    created = rendered(functions, aws, context)
    target = functions.catalogue.s3 if client == "s3" else functions.catalogue.catalogue.client
    with flaky(target, method, FAULTS[fault](method), failures=1):
        first = delete(functions, context, created)
        assert error_of(first) == (503, "ServiceUnavailable")
        record = aws.record(created["id"])
        assert record is not None
        # Once marked, the image has left the feed even though the delete is unfinished.
        assert (record["status"] == "deleting") is hidden
        listed = functions.catalogue.handler(catalogue_event("GET"), context)
        assert (created["id"] in listed["body"]) is not hidden
        second = delete(functions, context, created)
    assert second["statusCode"] == 204
    assert aws.record(created["id"]) is None
    assert object_keys(aws.s3, BUCKET) == []


def test_s3_refusing_some_keys_in_a_batch_delete_is_a_503(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeleteObjects reports per-key errors in a 200 answer: they must not pass for success."""
    created = rendered(functions, aws, context)
    real = functions.catalogue.s3.delete_objects

    def partly_refused(**kwargs: Any) -> Any:
        response = real(**kwargs)
        response["Errors"] = [{"Key": "x", "Code": "InternalError", "Message": "try again"}]
        return response

    monkeypatch.setattr(functions.catalogue.s3, "delete_objects", partly_refused)
    assert error_of(delete(functions, context, created)) == (503, "ServiceUnavailable")
    assert aws.record(created["id"])["status"] == "deleting"  # type: ignore[index]
