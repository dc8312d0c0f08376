"""The hostile corpus against the upload handler (moto), and its images against the worker.

Every refused input must get its 4xx with its stable code and change nothing: no object in
the bucket, no message on the queue. Every image-like one, planted straight into the bucket
as if it had slipped past the upload, must make the worker report the record failed and
mark the image `failed` in the catalogue, never raise.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local_runner.harness import object_keys, queue_depth
from tests.functions.conftest import (
    BUCKET,
    MAX_UPLOAD_BYTES,
    QUEUE_URL,
    Aws,
    Functions,
    LambdaContext,
    error_of,
    headers_of,
    job_body,
    sqs_event,
    upload_event,
)
from tests.hostile import corpus

CASES = corpus.refused(MAX_UPLOAD_BYTES)
# Inputs that reach the decoders (not request-shape errors): the worker must refuse them too.
IMAGE_CASES = [c for c in CASES if c.status in (415, 422) and c.content_type.startswith("image/")]
PLANTED_NAME = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"


def upload(functions: Functions, context: LambdaContext, case: corpus.Case) -> dict[str, Any]:
    event = upload_event(case.body, case.content_type, dict(case.headers))
    response: dict[str, Any] = functions.upload.handler(event, context)
    return response


def test_the_corpus_is_at_least_sixty_inputs_across_every_category() -> None:
    assert len(CASES) >= 60
    assert {c.category for c in CASES} >= {
        "truncated",
        "bit-flipped",
        "random bytes",
        "foreign format renamed .jpg",
        "decompression bomb",
        "zero-size image",
        "bad JSON form",
        "bad multipart form",
        "over the size limit",
        "empty / 1 byte",
        "CRLF injection",
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_its_code_and_nothing_changes(
    functions: Functions, aws: Aws, context: LambdaContext, case: corpus.Case
) -> None:
    started = time.perf_counter()
    response = upload(functions, context, case)
    elapsed = time.perf_counter() - started

    assert error_of(response) == (case.status, case.code), response["body"]
    assert headers_of(response)["Content-Type"] == "application/json"
    assert "Traceback" not in response["body"]
    assert object_keys(aws.s3, BUCKET) == []
    assert queue_depth(aws.sqs, QUEUE_URL) == 0
    # Refusals are cheap: nothing is decoded past the header of a bomb (generous bound for a
    # busy shared machine; measured well under 0.1 s each).
    assert elapsed < 2.0


@pytest.mark.parametrize("case", IMAGE_CASES, ids=[c.id for c in IMAGE_CASES])
def test_worker_refuses_a_planted_bad_original_for_good(
    functions: Functions, aws: Aws, context: LambdaContext, case: corpus.Case
) -> None:
    aws.put(f"originals/{PLANTED_NAME}", case.body)
    aws.add_record(PLANTED_NAME, "pending")

    result = functions.worker.handler(sqs_event(job_body(PLANTED_NAME)), context)

    assert result == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    record = aws.record(PLANTED_NAME.split(".", 1)[0])
    assert record is not None
    assert record["status"] == "failed"
    assert record["error"]["code"] in ("InvalidImage", "UnsupportedMediaType")
    assert object_keys(aws.s3, BUCKET) == [f"originals/{PLANTED_NAME}"]


def test_refusals_name_no_internal_detail(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """Messages are the service's own words: no bucket, key, exception or library name."""
    for case in CASES:
        message = json.loads(upload(functions, context, case)["body"])["error"]["message"]
        for leak in (BUCKET, "originals/", "Error(", "PIL", "botocore", 'File "'):
            assert leak not in message, (case.id, message)
