"""The catalogue routes: the feed newest first, one image's state, deletion with its token."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from unittest import mock

import pytest
from image_service import records

from samples import images
from tests.functions.conftest import (
    BUCKET,
    Aws,
    Functions,
    LambdaContext,
    download_event,
    error_of,
    headers_of,
    job_body,
    load_event,
    sqs_event,
    upload_event,
)


def catalogue_event(
    method: str,
    image_id: str | None = None,
    headers: dict[str, str] | None = None,
    **query: str,
) -> dict[str, Any]:
    """GET /images, or GET / DELETE /images/{id}, as API Gateway hands them over."""
    event = load_event("api_download.json")
    resource = "/images" if image_id is None else "/images/{id}"
    path = "/images" if image_id is None else f"/images/{image_id}"
    event.update(
        resource=resource,
        path=path,
        httpMethod=method,
        pathParameters=None if image_id is None else {"id": image_id},
        queryStringParameters=query or None,
    )
    event["requestContext"].update(resourcePath=resource, httpMethod=method, path=f"/dev{path}")
    event["headers"].update(headers or {})
    return event


def call(functions: Functions, context: LambdaContext, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = functions.catalogue.handler(event, context)
    return response


def upload(functions: Functions, context: LambdaContext, width: int = 64) -> dict[str, Any]:
    response = functions.upload.handler(upload_event(images.jpeg(width, 48)), context)
    assert response["statusCode"] == 201, response["body"]
    body: dict[str, Any] = json.loads(response["body"])
    return body


def feed(
    functions: Functions, context: LambdaContext, **query: str
) -> tuple[list[str], str | None]:
    response = call(functions, context, catalogue_event("GET", None, None, **query))
    assert response["statusCode"] == 200, response["body"]
    assert headers_of(response)["Cache-Control"] == "no-store"
    body = json.loads(response["body"])
    assert set(body) == {"items", "next_cursor"}
    return [item["id"] for item in body["items"]], body["next_cursor"]


def render(functions: Functions, context: LambdaContext, name: str) -> None:
    assert functions.worker.handler(sqs_event(job_body(name)), context) == {"batchItemFailures": []}


# --- the feed ------------------------------------------------------------------------------


def test_feed_is_newest_first_in_pages_that_end(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    uploaded = [upload(functions, context)["id"] for _ in range(7)]
    newest_first = sorted(uploaded, reverse=True)
    assert newest_first == uploaded[::-1]  # ids sort by upload time
    first, cursor = feed(functions, context, limit="3")
    assert first == newest_first[:3]
    assert cursor is not None
    second, cursor = feed(functions, context, limit="3", cursor=cursor)
    assert second == newest_first[3:6]
    assert cursor is not None
    last, cursor = feed(functions, context, limit="3", cursor=cursor)
    assert (last, cursor) == (newest_first[6:], None)


def test_feed_pages_default_to_30(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    for _ in range(31):
        upload(functions, context, width=16)
    ids, cursor = feed(functions, context)
    assert len(ids) == 30
    assert cursor is not None


def test_feed_items_are_public_records(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = upload(functions, context)
    render(functions, context, created["name"])
    response = call(functions, context, catalogue_event("GET"))
    (item,) = json.loads(response["body"])["items"]
    assert item["status"] == "ready"
    assert "delete_token" not in item
    assert "delete_token_hash" not in item
    assert set(item["renditions"]) == {"thumb", "square"}
    assert item["renditions"]["thumb"]["content_type"] == "image/jpeg"
    assert item["links"]["status"] == f"/images/{created['id']}"


def test_only_pending_ready_and_failed_images_are_listed(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    shown = {
        status: aws.add_record(f"0{n}JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg", status)
        for n, status in enumerate(("pending", "ready", "failed"), start=1)
    }
    for n, status in enumerate(("uploading", "rejected"), start=4):
        # As a direct upload writes them: not in the feed's sparse index.
        aws.add_record(f"0{n}JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg", status, feed=None)
    ids, _ = feed(functions, context)
    assert ids == [f"0{n}JDXK9V3Q8ZJ4W6M2T5R7Y0AB" for n in (3, 2, 1)]
    assert len(shown) == 3


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "10" * 15 + "0", "1.5", " 5", "٣"])
def test_a_limit_outside_1_to_100_is_refused(
    functions: Functions, aws: Aws, context: LambdaContext, limit: str
) -> None:
    response = call(functions, context, catalogue_event("GET", limit=limit))
    assert error_of(response) == (400, "InvalidLimit")


def _other_json_cursor() -> str:
    payload = base64.urlsafe_b64encode(b'{"v":1,"after":"../../etc"}').decode().rstrip("=")
    return f"{payload}.AAAAAAAAAAAAAAAAAAAAAA"


def _same_bits_last_character(last: str) -> str:
    """Another last character that decodes to the same bytes: 16 bytes of MAC in 22 base64
    characters leave the last one 4 bits that decoding drops."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(last)
    return alphabet[index ^ 1]


@pytest.mark.parametrize(
    "make",
    [
        lambda good: "random-garbage",
        lambda good: good[:-3],
        lambda good: good[: len(good) // 2],
        lambda good: base64.urlsafe_b64encode(b'{"after": "x"}').decode(),
        lambda good: _other_json_cursor(),
        lambda good: good.replace(good[5], "A" if good[5] != "A" else "B", 1),
        lambda good: records.encode_cursor("01JDXK9V3Q8ZJ4W6M2T5R7Y0AB", "prod-table/feed"),
        lambda good: records.encode_cursor("01JDXK9V3Q8ZJ4W6M2T5R7Y0AB", f"{BUCKET}/another-index"),
        lambda good: "." * 3,
        lambda good: "A" * 5000,
        lambda good: good + "\x00",
        lambda good: good + "==",
        lambda good: good.replace(".", "==."),
        lambda good: good[:-1] + _same_bits_last_character(good[-1]),
    ],
    ids=[
        "random",
        "truncated",
        "half",
        "base64-of-other-json",
        "forged-payload",
        "one-byte-changed",
        "another-stage",
        "another-index",
        "dots",
        "huge",
        "nul",
        "padding-appended",
        "payload-padded",
        "spare-bits-changed",
    ],
)
def test_a_cursor_this_feed_did_not_issue_is_refused(
    functions: Functions, aws: Aws, context: LambdaContext, make: Any
) -> None:
    for _ in range(3):
        upload(functions, context, width=16)
    _, good = feed(functions, context, limit="1")
    assert good is not None
    response = call(functions, context, catalogue_event("GET", cursor=make(good)))
    assert error_of(response) == (400, "InvalidCursor")


# --- one image -----------------------------------------------------------------------------


def test_an_image_reports_its_state_as_it_changes(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = upload(functions, context)
    event = catalogue_event("GET", created["id"])
    pending = json.loads(call(functions, context, event)["body"])
    assert pending["status"] == "pending"
    render(functions, context, created["name"])
    response = call(functions, context, event)
    ready = json.loads(response["body"])
    assert ready["status"] == "ready"
    assert headers_of(response)["Cache-Control"] == "no-store"
    assert "delete_token_hash" not in ready
    assert {k: ready[k] for k in ("id", "name", "size", "width", "height")} == {
        k: created[k] for k in ("id", "name", "size", "width", "height")
    }
    assert ready["renditions"]["square"]["width"] == 48  # cover 320x320 of 64x48: not enlarged


def test_an_unknown_id_is_not_found(functions: Functions, aws: Aws, context: LambdaContext) -> None:
    response = call(functions, context, catalogue_event("GET", "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"))
    assert error_of(response) == (404, "NotFound")


@pytest.mark.parametrize(
    "image_id",
    [
        "01jdxk9v3q8zj4w6m2t5r7y0ab",  # lower case
        "..%2F..%2Fetc%2Fpasswd",
        "../../etc/passwd",
        "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB" * 10,  # overlong
        "01JDXK9V3Q8ZJ4W6M2T5R7Y0A",  # one short
        "81JDXK9V3Q8ZJ4W6M2T5R7Y0AB",  # over 128 bits
        "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg",  # a name, not an id
        "01JDXK9V3Q8ZJ4W6M2T5R7Y0AI",  # I is not Crockford
        "01JDXK9V3Q8ZJ4W6M2T5R7Y0A\n",
    ],
)
def test_a_malformed_id_is_refused_before_the_table_is_read(
    functions: Functions, aws: Aws, context: LambdaContext, image_id: str
) -> None:
    calls: list[str] = []
    client = functions.catalogue.catalogue.client
    client.meta.events.register("before-call.dynamodb", lambda **kw: calls.append(kw["event_name"]))
    try:
        for method in ("GET", "DELETE"):
            response = call(functions, context, catalogue_event(method, image_id))
            assert error_of(response) == (400, "InvalidName")
    finally:
        client.meta.events.unregister("before-call.dynamodb")
    assert calls == []


# --- deletion ------------------------------------------------------------------------------


def delete(
    functions: Functions, context: LambdaContext, image_id: str, token: str | None
) -> dict[str, Any]:
    headers = {} if token is None else {"X-Delete-Token": token}
    return call(functions, context, catalogue_event("DELETE", image_id, headers))


def test_delete_removes_the_record_the_original_and_every_rendition(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    kept = upload(functions, context)
    created = upload(functions, context)
    for image in (kept, created):
        render(functions, context, image["name"])
    response = delete(functions, context, created["id"], created["delete_token"])
    assert (response["statusCode"], response["body"]) == (204, "")
    assert aws.record(created["id"]) is None
    assert not [k for k in aws.object_keys() if created["id"] in k]
    assert len([k for k in aws.object_keys() if kept["id"] in k]) == 5  # original, 2 x 2 thumbnails
    assert feed(functions, context)[0] == [kept["id"]]
    gone = call(functions, context, catalogue_event("GET", created["id"]))
    assert error_of(gone) == (404, "NotFound")
    thumbnail = functions.download_thumbnail.handler(
        download_event("download-thumbnail", created["name"]), context
    )
    assert error_of(thumbnail) == (404, "NotFound")
    again = delete(functions, context, created["id"], created["delete_token"])
    assert error_of(again) == (404, "NotFound")


@pytest.mark.parametrize(
    "token",
    [None, "", "wrong", "another", "x" * 10_240, "\u00e9\u0000"],
    ids=["missing", "empty", "wrong", "another-images", "10kb", "odd-bytes"],
)
def test_delete_without_the_images_own_token_is_forbidden_and_changes_nothing(
    functions: Functions, aws: Aws, context: LambdaContext, token: str | None
) -> None:
    created = upload(functions, context)
    other = upload(functions, context)
    if token == "another":
        token = other["delete_token"]
    render(functions, context, created["name"])
    before = (aws.object_keys(), aws.record(created["id"]))
    assert error_of(delete(functions, context, created["id"], token)) == (403, "Forbidden")
    assert (aws.object_keys(), aws.record(created["id"])) == before
    assert created["id"] in feed(functions, context)[0]


def test_an_unknown_image_cannot_be_deleted(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    response = delete(functions, context, "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB", "anything")
    assert error_of(response) == (404, "NotFound")


def test_of_five_deletions_racing_one_answers_204_and_the_others_404_without_an_error(
    functions: Functions, aws: Aws, context: LambdaContext, caplog: pytest.LogCaptureFixture
) -> None:
    """Five DELETEs with the right token, each past its look-up, mark and object removal
    before the first removes the record: the first answers 204, the others find the record
    gone at their last step and answer 404, with nothing logged as an error."""
    created = upload(functions, context)
    render(functions, context, created["name"])
    client = functions.catalogue.catalogue.client
    real_delete_item = client.delete_item
    started: list[None] = []
    answers: list[dict[str, Any]] = []

    def deletion() -> None:
        started.append(None)
        answers.append(delete(functions, context, created["id"], created["delete_token"]))

    def the_next_one_first(**kwargs: Any) -> Any:
        # Each deletion that gets here lets the next one start and run up to here: the fifth
        # removes the record, then the fourth, ..., the first try to.
        if len(started) < 5:
            deletion()
        return real_delete_item(**kwargs)

    with mock.patch.object(client, "delete_item", the_next_one_first):
        deletion()
    statuses = [answer["statusCode"] for answer in answers]
    assert statuses == [204, 404, 404, 404, 404]
    assert all(error_of(answer) == (404, "NotFound") for answer in answers[1:])
    assert aws.record(created["id"]) is None
    assert not [k for k in aws.object_keys() if created["id"] in k]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_job_still_in_flight_brings_nothing_back(
    functions: Functions, aws: Aws, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner deletes the image while the worker renders it: the worker's update is
    refused, and it removes the thumbnails it wrote after the deletion removed the others."""
    created = upload(functions, context)
    real_render = functions.worker.imaging.render_renditions

    def render_while_deleted(*args: Any, **kwargs: Any) -> Any:
        rendered = real_render(*args, **kwargs)
        response = delete(functions, context, created["id"], created["delete_token"])
        assert response["statusCode"] == 204
        return rendered

    monkeypatch.setattr(functions.worker.imaging, "render_renditions", render_while_deleted)
    render(functions, context, created["name"])
    assert aws.record(created["id"]) is None
    assert aws.object_keys() == []


def test_a_job_for_an_image_deleted_before_it_ran_is_dropped(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = upload(functions, context)
    assert delete(functions, context, created["id"], created["delete_token"])["statusCode"] == 204
    render(functions, context, created["name"])  # succeeds: nothing left to do
    assert aws.object_keys() == []
    assert aws.record(created["id"]) is None
