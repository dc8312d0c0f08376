"""Direct uploads: a ticket, the bytes arriving in incoming/, and the worker's ingest.

The worker is driven with the messages S3 sends for `incoming/<id>` (keys URL-encoded), as the
bucket's notification puts them on the queue. Every case ends in a definite state: `ready`,
or `rejected` with its code and nothing left under incoming/ or originals/.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest
from image_service import names

from samples import heif as heif_samples
from samples import images
from tests.faults.test_unit_faults import FAULTS, flaky
from tests.functions.conftest import (
    BUCKET,
    MAX_DIRECT_UPLOAD_BYTES,
    MAX_RECEIVE_COUNT,
    Aws,
    Functions,
    LambdaContext,
    body_of,
    download_event,
    error_of,
    sqs_event,
)
from tests.functions.test_catalogue import catalogue_event
from tests.hostile import corpus


def ticket(
    functions: Functions,
    context: LambdaContext,
    content_type: str = "image/jpeg",
    size: int = 1000,
    filename: str = "IMG_0001.jpg",
) -> dict[str, Any]:
    event = catalogue_event("POST", None)
    event.update(resource="/uploads", path="/uploads", pathParameters=None)
    event["requestContext"].update(resourcePath="/uploads", path="/dev/uploads")
    event["headers"]["Content-Type"] = "application/json"
    event["body"] = json.dumps({"filename": filename, "content_type": content_type, "size": size})
    response = functions.tickets.handler(event, context)
    assert response["statusCode"] == 201, response["body"]
    created: dict[str, Any] = json.loads(response["body"])
    return created


def s3_event(key: str, bucket: str = BUCKET, size: int = 1) -> str:
    """What S3 puts on the queue for an object created by a POST."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventName": "ObjectCreated:Post",
                    "s3": {
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": quote_plus(key, safe="/"), "size": size},
                    },
                }
            ]
        }
    )


def arrive(
    functions: Functions,
    aws: Aws,
    context: LambdaContext,
    image_id: str,
    data: bytes,
    attempt: int = 1,
) -> Any:
    """The bytes land in incoming/<id> (as a presigned POST puts them), then S3's event."""
    aws.put(names.incoming_key(image_id), data)
    return deliver(functions, context, image_id, attempt)


def deliver(functions: Functions, context: LambdaContext, image_id: str, attempt: int = 1) -> Any:
    body = s3_event(names.incoming_key(image_id))
    return functions.worker.handler(sqs_event(body, receive_count=attempt), context)


OK: dict[str, list[dict[str, str]]] = {"batchItemFailures": []}
FAILED = {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


def only_originals_and_thumbnails(aws: Aws, name: str) -> None:
    assert aws.object_keys() == sorted(names.image_keys(name, ("thumb", "square")))


def test_a_good_photo_becomes_an_image(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = images.exif_rotated_jpeg(1200, 800)
    created = ticket(functions, context, size=len(data))
    assert created["status"] == "uploading"
    assert aws.record(created["id"])["expires_at"] > 0  # type: ignore[index]
    assert arrive(functions, aws, context, created["id"], data) == OK
    record = aws.record(created["id"])
    assert record is not None
    name = f"{created['id']}.jpg"
    assert record["status"] == "ready"
    assert (record["name"], record["content_type"], record["size"]) == (
        name,
        "image/jpeg",
        len(data),
    )
    assert (record["width"], record["height"]) == (800, 1200)  # as displayed
    assert "expires_at" not in record  # an image does not expire
    assert record["filename"] == "IMG_0001.jpg"
    assert set(record["renditions"]) == {"thumb", "square"}
    original = aws.get(names.original_key(name))
    assert (original["Data"], original["ContentType"]) == (data, "image/jpeg")
    only_originals_and_thumbnails(aws, name)
    feed = functions.catalogue.handler(catalogue_event("GET"), context)
    assert created["id"] in feed["body"]


def test_the_bytes_decide_the_type_not_the_ticket(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    data = heif_samples.photo_heic()
    created = ticket(functions, context, content_type="image/jpeg", size=len(data))
    assert arrive(functions, aws, context, created["id"], data) == OK
    record = aws.record(created["id"])
    assert record is not None
    assert (record["name"], record["content_type"]) == (f"{created['id']}.heic", "image/heic")
    download = functions.download_image.handler(download_event("download", record["name"]), context)
    assert download["statusCode"] == 200


REFUSED = [
    ("pdf", lambda: b"%PDF-1.7\n" + images.jpeg(64, 48), "UnsupportedMediaType"),
    ("html", corpus.html_page, "UnsupportedMediaType"),
    ("html-polyglot-zip", corpus.zip_archive, "UnsupportedMediaType"),
    ("truncated-jpeg", images.truncated_jpeg, "InvalidImage"),
    ("bomb-png", lambda: corpus.png_with_size(20_000, 20_000), "InvalidImage"),
    ("bomb-jpeg", lambda: corpus.jpeg_with_size(65_000, 65_000), "InvalidImage"),
    ("truncated-heic", lambda: heif_samples.photo_heic()[:2000], "InvalidImage"),
    ("too-large", lambda: b"\xff\xd8\xff" + bytes(MAX_DIRECT_UPLOAD_BYTES - 2), "PayloadTooLarge"),
]


@pytest.mark.parametrize(("label", "make", "code"), REFUSED, ids=[c[0] for c in REFUSED])
def test_bytes_that_are_no_acceptable_image_are_rejected_and_removed(
    functions: Functions, aws: Aws, context: LambdaContext, label: str, make: Any, code: str
) -> None:
    created = ticket(functions, context)
    assert arrive(functions, aws, context, created["id"], make()) == OK  # no retry: final
    record = aws.record(created["id"])
    assert record is not None
    assert (record["status"], record["error"]["code"]) == ("rejected", code)
    assert record["expires_at"] > 0  # a rejected ticket goes like an unused one
    assert aws.object_keys() == []
    shown = json.loads(
        functions.catalogue.handler(catalogue_event("GET", created["id"]), context)["body"]
    )
    assert (shown["status"], shown["error"]["code"]) == ("rejected", code)
    feed = functions.catalogue.handler(catalogue_event("GET"), context)
    assert created["id"] not in feed["body"]


def test_the_same_event_twice_ends_in_the_same_state(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = ticket(functions, context)
    assert arrive(functions, aws, context, created["id"], images.jpeg()) == OK
    before = (aws.object_keys(), aws.record(created["id"]))
    assert deliver(functions, context, created["id"]) == OK
    assert (aws.object_keys(), aws.record(created["id"])) == before


def test_a_second_upload_to_a_used_ticket_is_removed(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = ticket(functions, context)
    first = images.jpeg(640, 480)
    assert arrive(functions, aws, context, created["id"], first) == OK
    before = aws.record(created["id"])
    assert arrive(functions, aws, context, created["id"], images.png(32, 32)) == OK
    assert aws.record(created["id"]) == before
    name = f"{created['id']}.jpg"
    assert aws.get(names.original_key(name))["Data"] == first
    only_originals_and_thumbnails(aws, name)


def html_kilobyte() -> bytes:
    page = corpus.html_page()
    return page + b" " * (1024 - len(page))


def test_the_original_is_the_bytes_that_were_validated_not_a_later_post(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ticket is posted to again, with HTML, right after the worker read the PNG: the
    original is the PNG it decoded, and the later post's own event replaces nothing."""
    created = ticket(functions, context, content_type="image/png")
    png = images.png(640, 480)
    real_ingest = functions.worker.imaging.ingest

    def posted_again_meanwhile(data: bytes, *args: Any, **kwargs: Any) -> Any:
        aws.put(names.incoming_key(created["id"]), html_kilobyte(), "image/png")
        return real_ingest(data, *args, **kwargs)

    monkeypatch.setattr(functions.worker.imaging, "ingest", posted_again_meanwhile)
    assert arrive(functions, aws, context, created["id"], png) == OK
    monkeypatch.setattr(functions.worker.imaging, "ingest", real_ingest)
    name = f"{created['id']}.png"
    original = aws.get(names.original_key(name))
    assert (original["Data"], original["ContentType"]) == (png, "image/png")
    record = aws.record(created["id"])
    assert record is not None
    assert (record["status"], record["size"]) == ("ready", len(png))
    # The HTML post's own event: the ticket is used, so its bytes go and nothing changes.
    aws.put(names.incoming_key(created["id"]), html_kilobyte(), "image/png")
    assert deliver(functions, context, created["id"]) == OK
    assert aws.record(created["id"]) == record
    download = functions.download_image.handler(download_event("download", name), context)
    assert body_of(download) == png
    only_originals_and_thumbnails(aws, name)


def test_an_arrival_that_loses_the_ticket_to_another_leaves_no_original(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two posts to one ticket decoded at once: the HTML is rejected while the PNG is still
    being decoded, so the PNG finds the ticket settled and takes back the original it wrote."""
    created = ticket(functions, context, content_type="image/png")
    real_ingest = functions.worker.imaging.ingest
    calls: list[int] = []

    def rejected_meanwhile(data: bytes, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(data))
        if len(calls) == 1:
            aws.put(names.incoming_key(created["id"]), html_kilobyte(), "image/png")
            arrival = functions.worker.Arrival(created["id"])
            assert functions.worker.ingest(arrival, 1, {}) is False
            assert aws.record(created["id"])["status"] == "rejected"  # type: ignore[index]
        return real_ingest(data, *args, **kwargs)

    monkeypatch.setattr(functions.worker.imaging, "ingest", rejected_meanwhile)
    assert arrive(functions, aws, context, created["id"], images.png()) == OK
    assert len(calls) == 2
    record = aws.record(created["id"])
    assert record is not None
    assert (record["status"], record["error"]["code"]) == ("rejected", "UnsupportedMediaType")
    assert aws.object_keys() == []


@pytest.mark.parametrize("state", ["never-ticketed", "deleted", "deleting"])
def test_bytes_without_a_waiting_ticket_are_removed_and_never_catalogued(
    functions: Functions, aws: Aws, context: LambdaContext, state: str
) -> None:
    image_id = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"
    if state != "never-ticketed":
        image_id = ticket(functions, context)["id"]
        if state == "deleted":
            aws.dynamodb.delete_item(
                TableName="image-service-test-catalogue", Key={"id": {"S": image_id}}
            )
        else:
            functions.catalogue.catalogue.start_delete(image_id)
    assert arrive(functions, aws, context, image_id, images.jpeg()) == OK
    assert aws.object_keys() == []
    record = aws.record(image_id)
    assert record is None or record["status"] == "deleting"


def test_s3s_test_event_is_ignored(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})
    assert functions.worker.handler(sqs_event(body), context) == OK
    assert aws.object_keys() == []


@pytest.mark.parametrize(
    "body",
    [
        s3_event("incoming/not-an-id"),
        s3_event("originals/01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"),
        s3_event(names.incoming_key("01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"), bucket="another-bucket"),
        json.dumps({"Records": [{"eventSource": "aws:sqs"}]}),
        json.dumps({"Records": "nope"}),
    ],
    ids=["bad-key", "not-incoming", "other-bucket", "not-s3", "records-not-a-list"],
)
def test_events_that_are_not_this_buckets_uploads_go_to_the_dlq(
    functions: Functions, aws: Aws, context: LambdaContext, body: str
) -> None:
    assert functions.worker.handler(sqs_event(body), context) == FAILED


# Retries after a crash at any step --------------------------------------------------------

# (client, method, the key it writes when only some of the method's calls are that step)
STEPS = {
    "read": ("s3", "get_object", None),
    "store-original": ("s3", "put_object", "originals/"),
    "record-pending": ("dynamodb", "update_item", None),
    "remove-incoming": ("s3", "delete_objects", None),
    "store-thumbnail": ("s3", "put_object", "thumbnails/"),
    "look-up": ("dynamodb", "get_item", None),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_fault_at_any_step_is_retried_to_the_same_end(
    functions: Functions, aws: Aws, context: LambdaContext, step: str
) -> None:
    created = ticket(functions, context)
    data = images.jpeg(800, 600)
    service, method, prefix = STEPS[step]
    client = functions.worker.s3 if service == "s3" else functions.worker.catalogue.client
    fault = FAULTS["ServiceUnavailable-503"](method)

    def at_step(kwargs: dict[str, Any]) -> bool:
        return prefix is None or str(kwargs.get("Key", "")).startswith(prefix)

    with flaky(client, method, fault, failures=1, when=at_step):
        assert arrive(functions, aws, context, created["id"], data) == FAILED
    assert deliver(functions, context, created["id"], attempt=2) == OK
    record = aws.record(created["id"])
    assert record is not None
    assert record["status"] == "ready"
    name = f"{created['id']}.jpg"
    assert aws.get(names.original_key(name))["Data"] == data
    only_originals_and_thumbnails(aws, name)


def test_a_worker_killed_on_every_try_leaves_the_ticket_rejected_not_uploading(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory or a timeout runs no code after the kill: the last try marks the ticket
    rejected before it decodes, so a client never waits on `uploading` for ever."""
    created = ticket(functions, context)
    seen: list[str] = []

    def killed(*args: Any, **kwargs: Any) -> Any:
        seen.append(aws.record(created["id"])["status"])  # type: ignore[index]
        raise MemoryError

    monkeypatch.setattr(functions.worker.imaging, "ingest", killed)
    aws.put(names.incoming_key(created["id"]), images.jpeg())
    for attempt in range(1, MAX_RECEIVE_COUNT + 1):
        assert deliver(functions, context, created["id"], attempt) == FAILED
    assert seen == ["uploading"] * (MAX_RECEIVE_COUNT - 1) + ["rejected"]
    record = aws.record(created["id"])
    assert record is not None
    assert (record["status"], record["error"]["code"]) == ("rejected", "InvalidImage")


def test_a_last_try_that_succeeds_takes_the_ticket_on_to_ready(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = ticket(functions, context)
    assert arrive(functions, aws, context, created["id"], images.jpeg(), MAX_RECEIVE_COUNT) == OK
    record = aws.record(created["id"])
    assert record is not None
    assert (record["status"], record.get("error"), record.get("gave_up")) == ("ready", None, None)


def test_deleting_a_ticket_removes_bytes_that_wait_and_any_that_come_later(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = ticket(functions, context)
    aws.put(names.incoming_key(created["id"]), images.jpeg())
    token = {"X-Delete-Token": created["delete_token"]}
    deleted = functions.catalogue.handler(catalogue_event("DELETE", created["id"], token), context)
    assert deleted["statusCode"] == 204
    assert aws.object_keys() == []
    assert arrive(functions, aws, context, created["id"], images.jpeg()) == OK
    assert aws.object_keys() == []
    assert aws.record(created["id"]) is None


def test_an_image_deleted_while_it_is_ingested_leaves_nothing(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = ticket(functions, context)
    real_put = functions.worker.s3.put_object

    def original_stored_then_deleted(**kwargs: Any) -> Any:
        result = real_put(**kwargs)
        if kwargs["Key"].startswith("originals/"):
            token = {"X-Delete-Token": created["delete_token"]}
            event = catalogue_event("DELETE", created["id"], token)
            assert functions.catalogue.handler(event, context)["statusCode"] == 204
        return result

    monkeypatch.setattr(functions.worker.s3, "put_object", original_stored_then_deleted)
    assert arrive(functions, aws, context, created["id"], images.jpeg()) == OK
    assert aws.object_keys() == []
    assert aws.record(created["id"]) is None


def test_an_upload_still_waiting_for_its_bytes_has_no_thumbnail_to_ask_for(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = ticket(functions, context)
    name = f"{created['id']}.jpg"  # not named yet: nobody can know its name
    response = functions.download_thumbnail.handler(
        download_event("download-thumbnail", name), context
    )
    assert error_of(response) == (404, "NotFound")
