"""Storage and queue faults injected into the handlers (moto + botocore patching/stubbing).

Upload: a fault answers 503 with Retry-After and leaves nothing half done (no original
without its job, no job without its original). Worker: a fault makes the record fail
(reported in batchItemFailures, so SQS retries only it); once the fault clears the retry
makes the thumbnails; a fault that outlasts the last try ends with the catalogue record
`failed`, so the image's status is explicit. The invariant: an upload answered 201 ends with its
thumbnails or with ThumbnailFailed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from image_service import names

from local_runner.harness import object_keys, queue_depth
from samples import images
from tests.functions.conftest import (
    BUCKET,
    MAX_RECEIVE_COUNT,
    QUEUE_URL,
    Aws,
    Functions,
    LambdaContext,
    download_event,
    error_of,
    headers_of,
    sqs_event,
    upload_event,
)

RENDITIONS = ("square", "thumb")


def client_error(code: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


# What S3/SQS say when they are overloaded or broken, after botocore's own retries gave up.
FAULTS: dict[str, Callable[[str], Exception]] = {
    "throttled-SlowDown-503": lambda op: client_error("SlowDown", 503, op),
    "ServiceUnavailable-503": lambda op: client_error("ServiceUnavailable", 503, op),
    "InternalError-500": lambda op: client_error("InternalError", 500, op),
    "connection-refused": lambda op: EndpointConnectionError(endpoint_url="https://s3.local"),
    "read-timeout": lambda op: ReadTimeoutError(endpoint_url="https://s3.local"),
}


class Flaky:
    """Wraps a client method: the first `failures` calls (matching `when`) raise `fault`."""

    def __init__(
        self,
        real: Callable[..., Any],
        fault: Exception,
        failures: int,
        when: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
    ) -> None:
        self.real, self.fault, self.remaining, self.when = real, fault, failures, when
        self.calls = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.remaining > 0 and self.when(kwargs):
            self.remaining -= 1
            raise self.fault
        return self.real(**kwargs)


@contextmanager
def flaky(
    client: Any,
    method: str,
    fault: Exception,
    failures: int = 10**9,
    when: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
) -> Iterator[Flaky]:
    wrapper = Flaky(getattr(client, method), fault, failures, when)
    with mock.patch.object(client, method, wrapper):
        yield wrapper


def upload(functions: Functions, context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = functions.upload.handler(
        upload_event(images.jpeg(320, 240)), context
    )
    return response


def queued_job(aws: Aws) -> str:
    received = aws.sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
    (message,) = received["Messages"]
    body: str = message["Body"]
    return body


def thumbnail_answer(functions: Functions, context: LambdaContext, name: str) -> tuple[int, str]:
    response = functions.download_thumbnail.handler(
        download_event("download-thumbnail", name), context
    )
    if response["statusCode"] == 200:
        return 200, headers_of(response)["Content-Type"]
    return error_of(response)


# Upload ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", list(FAULTS))
def test_storage_fault_on_upload_answers_503_and_queues_nothing(
    functions: Functions, aws: Aws, context: LambdaContext, fault: str
) -> None:
    with flaky(functions.upload.s3, "put_object", FAULTS[fault]("PutObject")):
        response = upload(functions, context)
    assert error_of(response) == (503, "ServiceUnavailable")
    assert headers_of(response)["Retry-After"].isdigit()
    assert object_keys(aws.s3, BUCKET) == []
    assert queue_depth(aws.sqs, QUEUE_URL) == 0


@pytest.mark.parametrize("fault", list(FAULTS))
def test_queue_fault_after_the_put_answers_503_and_takes_the_original_back(
    functions: Functions, aws: Aws, context: LambdaContext, fault: str
) -> None:
    with flaky(functions.upload.sqs, "send_message", FAULTS[fault]("SendMessage")) as send:
        response = upload(functions, context)
    assert send.calls == 1
    assert error_of(response) == (503, "ServiceUnavailable")
    assert headers_of(response)["Retry-After"].isdigit()
    assert object_keys(aws.s3, BUCKET) == []
    assert queue_depth(aws.sqs, QUEUE_URL) == 0


def test_retry_after_a_503_succeeds_once_storage_is_back(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    with flaky(functions.upload.s3, "put_object", FAULTS["throttled-SlowDown-503"]("PutObject"), 1):
        first = upload(functions, context)
        second = upload(functions, context)
    assert first["statusCode"] == 503
    assert second["statusCode"] == 201
    name = json.loads(second["body"])["name"]
    assert object_keys(aws.s3, BUCKET) == [f"originals/{name}"]
    assert json.loads(queued_job(aws))["key"] == f"originals/{name}"


def test_one_throttled_put_is_absorbed_by_botocore_retries(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """A single 503 SlowDown on the wire: botocore's standard retry mode repeats the call and
    the client never notices (the wire fault is injected before moto answers)."""
    sent: list[str] = []

    def slow_down_once(request: Any, **kwargs: Any) -> AWSResponse | None:
        sent.append(request.method)
        if len(sent) > 1:
            return None  # let moto answer
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
        raw = mock.Mock(stream=lambda **kw: iter([body]))
        headers = HTTPHeaders()
        headers["Content-Length"] = str(len(body))
        return AWSResponse(request.url, 503, headers, raw)

    events = functions.upload.s3.meta.events
    events.register_first("before-send.s3.PutObject", slow_down_once)
    try:
        response = upload(functions, context)
    finally:
        events.unregister("before-send.s3.PutObject", slow_down_once)
    assert response["statusCode"] == 201, response["body"]
    assert sent == ["PUT", "PUT"]
    assert queue_depth(aws.sqs, QUEUE_URL) == 1


def test_queue_and_storage_both_failing_is_answered_503(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """The one way to leave an original behind: SendMessage fails and so does the
    DeleteObject that takes the original back. The client still gets 503 (it retries under
    a new id), and the orphan is logged; it is never served a thumbnail status of 201."""
    fault = FAULTS["InternalError-500"]
    with (
        flaky(functions.upload.sqs, "send_message", fault("SendMessage")),
        flaky(functions.upload.s3, "delete_object", fault("DeleteObject")),
    ):
        response = upload(functions, context)
    assert error_of(response) == (503, "ServiceUnavailable")
    assert queue_depth(aws.sqs, QUEUE_URL) == 0


# Worker ---------------------------------------------------------------------------------


def run_worker(functions: Functions, context: LambdaContext, job: str, attempt: int) -> list[str]:
    result = functions.worker.handler(sqs_event(job, receive_count=attempt), context)
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def is_thumbnail_put(kwargs: dict[str, Any]) -> bool:
    return str(kwargs.get("Key", "")).startswith("thumbnails/")


WORKER_FAULTS = {
    "get-original": ("get_object", lambda kwargs: True),
    "put-thumbnail": ("put_object", is_thumbnail_put),
}


@pytest.mark.parametrize("fault", ["throttled-SlowDown-503", "InternalError-500", "read-timeout"])
@pytest.mark.parametrize("where", list(WORKER_FAULTS))
def test_worker_fault_fails_the_record_and_the_retry_makes_the_thumbnails(
    functions: Functions, aws: Aws, context: LambdaContext, fault: str, where: str
) -> None:
    response = upload(functions, context)
    name = json.loads(response["body"])["name"]
    job = queued_job(aws)
    method, when = WORKER_FAULTS[where]

    with flaky(functions.worker.s3, method, FAULTS[fault](method), failures=2, when=when):
        assert run_worker(functions, context, job, attempt=1) == ["message-0"]
        assert thumbnail_answer(functions, context, name) == (404, "ThumbnailPending")
        assert run_worker(functions, context, job, attempt=2) == ["message-0"]
        # The fault clears: the third delivery succeeds.
        assert run_worker(functions, context, job, attempt=3) == []

    assert thumbnail_answer(functions, context, name) == (200, "image/jpeg")
    assert object_keys(aws.s3, BUCKET) == sorted(names.image_keys(name, RENDITIONS))


def test_fault_that_outlasts_every_try_ends_thumbnail_failed(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    response = upload(functions, context)
    name = json.loads(response["body"])["name"]
    job = queued_job(aws)
    fault = FAULTS["throttled-SlowDown-503"]("GetObject")

    with flaky(functions.worker.s3, "get_object", fault):
        for attempt in range(1, MAX_RECEIVE_COUNT):
            assert run_worker(functions, context, job, attempt) == ["message-0"]
            assert thumbnail_answer(functions, context, name) == (404, "ThumbnailPending")
        assert run_worker(functions, context, job, MAX_RECEIVE_COUNT) == ["message-0"]

    assert thumbnail_answer(functions, context, name) == (404, "ThumbnailFailed")
    record = aws.record(name.split(".", 1)[0])
    assert record is not None
    assert (record["status"], record["error"]["code"]) == ("failed", "RenderFailed")


def test_one_bad_record_does_not_fail_its_batch_mates(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    names, jobs = [], []
    for _ in range(3):
        names.append(json.loads(upload(functions, context)["body"])["name"])
        jobs.append(queued_job_and_delete(aws))
    unlucky = f"originals/{names[1]}"

    with flaky(
        functions.worker.s3,
        "get_object",
        FAULTS["InternalError-500"]("GetObject"),
        when=lambda kwargs: kwargs["Key"] == unlucky,
    ):
        result = functions.worker.handler(sqs_event(*jobs), context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert thumbnail_answer(functions, context, names[0])[0] == 200
    assert thumbnail_answer(functions, context, names[1]) == (404, "ThumbnailPending")
    assert thumbnail_answer(functions, context, names[2])[0] == 200


def queued_job_and_delete(aws: Aws) -> str:
    received = aws.sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=1)
    (message,) = received["Messages"]
    aws.sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=message["ReceiptHandle"])
    body: str = message["Body"]
    return body


def test_stubbed_s3_throttling_on_every_thumbnail_put(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """botocore's Stubber in place of S3 for one delivery: the original reads fine, every
    thumbnail write is throttled. The record fails without raising and writes no marker."""
    original = images.jpeg(320, 240)
    name = json.loads(upload(functions, context)["body"])["name"]
    job = queued_job(aws)
    with Stubber(functions.worker.s3) as stub:
        stub.add_response(
            "get_object",
            {"Body": mock.Mock(read=lambda: original), "ContentLength": len(original)},
            {"Bucket": BUCKET, "Key": f"originals/{name}"},
        )
        stub.add_client_error("put_object", "SlowDown", "Please reduce your request rate.", 503)
        assert run_worker(functions, context, job, attempt=1) == ["message-0"]
        stub.assert_no_pending_responses()
    assert thumbnail_answer(functions, context, name) == (404, "ThumbnailPending")
    assert run_worker(functions, context, job, attempt=2) == []
    assert thumbnail_answer(functions, context, name) == (200, "image/jpeg")
