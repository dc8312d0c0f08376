"""Property: whatever a valid image is mutated into, the upload and the worker only ever
answer in the allowed ways. Bounded and derandomized, so it runs the same in every CI run.

Upload: 201 with an original that decodes, or a 4xx with one of the upload's codes; never a
5xx or an exception. Worker (the mutated bytes planted as an original, as if they had got
past the upload): thumbnails for every rendition, or the record reported failed and the
image marked `failed` in the catalogue; it never raises.
"""

from __future__ import annotations

import io
import json
import struct

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from image_service import names
from PIL import Image

from local_runner.harness import object_keys
from tests.depth import examples
from tests.functions.conftest import (
    BUCKET,
    MAX_IMAGE_PIXELS,
    QUEUE_URL,
    TABLE,
    Aws,
    Functions,
    LambdaContext,
    job_body,
    sqs_event,
    upload_event,
)
from tests.hostile import corpus

SEEDS = {kind: make() for kind, make in corpus.SEEDS.items()}
PLANTED = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"
RENDITIONS = ("square", "thumb")
MAGIC_BYTES = 12  # the longest signature sniffed: RIFF....WEBP


@st.composite
def mutated_images(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "truncate", "field", "splice", "zero-run"]))
        if not data:
            break
        # Mostly past the magic bytes: a changed signature is just a 415, learnt once.
        past_magic = min(MAGIC_BYTES, len(data) - 1)
        start = 0 if draw(st.integers(0, 9)) == 0 else past_magic
        at = draw(st.integers(start, len(data) - 1))
        if operation == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif operation == "truncate":
            del data[at:]
        elif operation == "field":
            # Header fields (sizes, counts, lengths) live in the first few dozen bytes.
            at = draw(st.integers(past_magic, max(past_magic, min(len(data), 64) - 1)))
            value = draw(st.sampled_from([0, 1, 0x7FFF, 0xFFFF, 30000, 0xFFFFFFFF]))
            width = draw(st.sampled_from([2, 4]))
            packed = struct.pack(">I", value & 0xFFFFFFFF)[-width:]
            data[at : at + width] = packed[: len(data) - at]
        elif operation == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            data[at : at + 64] = bytes(min(64, len(data) - at))
    return kind, bytes(data)


def decodes(data: bytes) -> bool:
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def clear(aws: Aws) -> None:
    for key in object_keys(aws.s3, BUCKET):
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
    received = aws.sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
    for message in received.get("Messages", []):
        aws.sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=message["ReceiptHandle"])
    for image_id in aws.record_ids():
        aws.dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": image_id}})


@settings(
    max_examples=examples(150),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sample=mutated_images())
def test_mutated_images_get_only_allowed_answers(
    functions: Functions, aws: Aws, context: LambdaContext, sample: tuple[str, bytes]
) -> None:
    kind, data = sample
    clear(aws)
    response = functions.upload.handler(upload_event(data, corpus.CONTENT_TYPES[kind]), context)
    status = response["statusCode"]
    event(f"upload {status}")
    if status == 201:
        name = json.loads(response["body"])["name"]
        stored = aws.s3.get_object(Bucket=BUCKET, Key=f"originals/{name}")["Body"].read()
        assert stored == data
        assert decodes(stored), "accepted an original that does not decode"
    else:
        code = json.loads(response["body"])["error"]["code"]
        assert (status, code) in corpus.CLIENT_ERRORS, (status, code)
        assert object_keys(aws.s3, BUCKET) == []

    clear(aws)
    aws.s3.put_object(Bucket=BUCKET, Key=f"originals/{PLANTED}", Body=data)
    aws.add_record(PLANTED, "pending")
    result = functions.worker.handler(sqs_event(job_body(PLANTED)), context)
    keys = object_keys(aws.s3, BUCKET)
    status_after = (aws.record(PLANTED.split(".", 1)[0]) or {}).get("status")
    event(f"worker {'failed' if result['batchItemFailures'] else 'rendered'}")
    if result["batchItemFailures"]:
        assert status_after == "failed", "a decode failure was not marked"
    else:
        assert keys == sorted(names.image_keys(PLANTED, RENDITIONS))
        assert status_after == "ready"
    if status == 201:
        assert not result["batchItemFailures"], "accepted upload whose thumbnail cannot be made"
