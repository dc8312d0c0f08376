"""Accounts as people meet them: their photos are theirs, a private one exists for its owner
only (on every route), the feed is public photos only, a change of visibility holds from the
next request on, and only the owner deletes or changes an owned photo.

Callers are made as API Gateway hands them over after its authorizers (conftest.as_user):
Alice and Bob signed in, or nobody.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from image_service import identity, names, records
from image_service.contract import MAX_OPEN_TICKETS

from samples import images
from tests.functions.conftest import (
    ALICE,
    BOB,
    ISSUER,
    TABLE,
    Aws,
    Functions,
    LambdaContext,
    as_user,
    body_of,
    download_event,
    error_of,
    headers_of,
    job_body,
    sqs_event,
    upload_event,
)
from tests.functions.test_caching import Distribution, distribution
from tests.functions.test_catalogue import catalogue_event
from tests.functions.test_ingest import deliver

__all__ = ["distribution"]

Caller = identity.Owner | None


# --- the routes, as a caller ---------------------------------------------------------------


def upload(
    functions: Functions,
    context: LambdaContext,
    caller: Caller,
    visibility: str | None = None,
    form: str = "raw",
) -> dict[str, Any]:
    """POST /upload of a small photo: raw bytes (`X-Visibility`), JSON or multipart."""
    data = images.jpeg(64, 48)
    if form == "raw":
        headers = {"X-Visibility": visibility} if visibility is not None else {}
        event = upload_event(data, headers=headers)
    elif form == "json":
        payload: dict[str, Any] = {"file": {"filename": "a.jpg", "content": _b64(data)}}
        if visibility is not None:
            payload["visibility"] = visibility
        event = upload_event(json.dumps(payload).encode(), "application/json")
    else:
        event = upload_event(*_multipart(data, visibility))
    response: dict[str, Any] = functions.upload.handler(as_user(event, caller), context)
    return response


def uploaded(
    functions: Functions, context: LambdaContext, caller: Caller, visibility: str | None = None
) -> dict[str, Any]:
    response = upload(functions, context, caller, visibility)
    assert response["statusCode"] == 201, response["body"]
    body: dict[str, Any] = json.loads(response["body"])
    return body


def ready(
    functions: Functions, context: LambdaContext, caller: Caller, visibility: str | None = None
) -> dict[str, Any]:
    """An uploaded photo whose thumbnails are made."""
    image = uploaded(functions, context, caller, visibility)
    assert functions.worker.handler(sqs_event(job_body(image["name"])), context) == {
        "batchItemFailures": []
    }
    return image


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _multipart(data: bytes, visibility: str | None) -> tuple[bytes, str]:
    boundary = "b0undary"
    parts = []
    if visibility is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="visibility"\r\n\r\n'
            f"{visibility}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def catalogue(
    functions: Functions,
    context: LambdaContext,
    caller: Caller,
    method: str,
    image_id: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **query: str,
) -> dict[str, Any]:
    event = catalogue_event(method, image_id, headers, **query)
    if body is not None:
        event["body"] = json.dumps(body)
    response: dict[str, Any] = functions.catalogue.handler(as_user(event, caller), context)
    return response


def my_images(
    functions: Functions, context: LambdaContext, caller: Caller, **query: str
) -> dict[str, Any]:
    event = catalogue_event("GET", None, None, **query)
    event.update(resource="/me/images", path="/me/images")
    event["requestContext"].update(resourcePath="/me/images", path="/dev/me/images")
    via = "pool" if caller is not None else "optional"
    response: dict[str, Any] = functions.catalogue.handler(as_user(event, caller, via=via), context)
    return response


def change(
    functions: Functions, context: LambdaContext, caller: Caller, image_id: str, visibility: Any
) -> dict[str, Any]:
    event = catalogue_event("PATCH", image_id)
    event["body"] = json.dumps({"visibility": visibility})
    via = "pool" if caller is not None else "optional"
    response: dict[str, Any] = functions.catalogue.handler(as_user(event, caller, via=via), context)
    return response


def feed(functions: Functions, context: LambdaContext, caller: Caller) -> dict[str, bool]:
    """The feed's ids, each with its `mine`."""
    response = catalogue(functions, context, caller, "GET")
    assert response["statusCode"] == 200, response["body"]
    return {item["id"]: item["mine"] for item in json.loads(response["body"])["items"]}


def download(
    functions: Functions, context: LambdaContext, caller: Caller, image: dict[str, Any]
) -> list[dict[str, Any]]:
    """The original, and every thumbnail in every size and format."""
    name = image["name"]
    answers = [
        functions.download_image.handler(as_user(download_event("download", name), caller), context)
    ]
    for size in ("thumb", "square"):
        for query in (
            {"size": size},
            {"size": size, "format": "webp"},
            {"size": size, "format": "jpeg"},
        ):
            event = download_event("download-thumbnail", name, None, **query)
            answers.append(functions.download_thumbnail.handler(as_user(event, caller), context))
    return answers


def ticket(
    functions: Functions, context: LambdaContext, caller: Caller, visibility: str | None = None
) -> dict[str, Any]:
    event = catalogue_event("POST", None)
    event.update(resource="/uploads", path="/uploads", pathParameters=None)
    event["requestContext"].update(resourcePath="/uploads", path="/dev/uploads")
    event["headers"]["Content-Type"] = "application/json"
    request: dict[str, Any] = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 2000}
    if visibility is not None:
        request["visibility"] = visibility
    event["body"] = json.dumps(request)
    response: dict[str, Any] = functions.tickets.handler(as_user(event, caller), context)
    return response


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["raw", "json", "multipart"])
def test_a_signed_in_upload_is_its_uploaders_with_no_delete_token(
    functions: Functions, aws: Aws, context: LambdaContext, form: str
) -> None:
    response = upload(functions, context, ALICE, "private", form)
    assert response["statusCode"] == 201, response["body"]
    body = json.loads(response["body"])
    assert (body["visibility"], body["mine"], body["delete_token"]) == ("private", True, None)
    assert "owner" not in body  # the owner key is never shown
    record = aws.record(body["id"])
    assert record is not None
    assert record["owner"] == f"{ISSUER}|{ALICE.subject}" == ALICE.key
    assert "delete_token_hash" not in record
    assert "feed" not in record  # private: never in the feed index


def test_an_upload_is_public_unless_private_is_asked_for(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    for caller in (ALICE, None):
        body = uploaded(functions, context, caller)
        assert body["visibility"] == "public"
        assert aws.record(body["id"])["feed"] == "all"  # type: ignore[index]


@pytest.mark.parametrize("form", ["raw", "json", "multipart"])
def test_an_anonymous_private_upload_is_refused_and_nothing_is_stored(
    functions: Functions, aws: Aws, context: LambdaContext, form: str
) -> None:
    assert error_of(upload(functions, context, None, "private", form)) == (400, "InvalidVisibility")
    assert error_of(ticket(functions, context, None, "private")) == (400, "InvalidVisibility")
    assert (aws.object_keys(), aws.record_ids(), aws.messages()) == ([], [], [])


@pytest.mark.parametrize("value", ["Private", "friends", "PUBLIC", "1"])
def test_a_visibility_that_is_not_public_or_private_is_refused(
    functions: Functions, aws: Aws, context: LambdaContext, value: str
) -> None:
    assert error_of(upload(functions, context, ALICE, value)) == (400, "InvalidVisibility")
    assert error_of(ticket(functions, context, ALICE, value)) == (400, "InvalidVisibility")
    assert aws.record_ids() == []


def test_an_anonymous_upload_keeps_todays_contract(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """Optional accounts: the anonymous authorizer context changes nothing for the client."""
    body = uploaded(functions, context, None)
    assert body["delete_token"]
    assert body["mine"] is False
    deleted = catalogue(
        functions,
        context,
        None,
        "DELETE",
        body["id"],
        headers={"X-Delete-Token": body["delete_token"]},
    )
    assert deleted["statusCode"] == 204


# --- who sees what -------------------------------------------------------------------------


def test_a_private_photo_is_never_in_the_public_feed_but_always_in_its_owners_list(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    private = ready(functions, context, ALICE, "private")
    public = ready(functions, context, ALICE, "public")
    anonymous = ready(functions, context, None)
    for caller in (None, BOB, ALICE):
        assert set(feed(functions, context, caller)) == {public["id"], anonymous["id"]}
    mine = json.loads(my_images(functions, context, ALICE)["body"])["items"]
    assert [(i["id"], i["visibility"], i["mine"]) for i in mine] == [
        (public["id"], "public", True),
        (private["id"], "private", True),
    ]
    assert json.loads(my_images(functions, context, BOB)["body"])["items"] == []


def test_user_a_cannot_see_download_or_delete_user_bs_private_photo(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    photo = ready(functions, context, BOB, "private")
    unknown = {**photo, "name": names.new_id() + ".jpg"}
    for stranger in (ALICE, None):
        # Exactly what an image that never existed gets: nothing tells them it is there.
        look_up = catalogue(functions, context, stranger, "GET", photo["id"])
        assert error_of(look_up) == (404, "NotFound")
        for answer, never in zip(
            download(functions, context, stranger, photo),
            download(functions, context, stranger, unknown),
            strict=True,
        ):
            assert error_of(answer) == (404, "NotFound")
            assert headers_of(answer)["Cache-Control"] == headers_of(never)["Cache-Control"]
            assert body_of(answer) == body_of(never)
        assert error_of(catalogue(functions, context, stranger, "DELETE", photo["id"])) == (
            404,
            "NotFound",
        )
    # Changing it needs a person (API Gateway's user-pool authorizer): one who is not its owner.
    assert error_of(change(functions, context, ALICE, photo["id"], "public")) == (404, "NotFound")
    assert aws.record(photo["id"])["status"] == "ready"  # type: ignore[index]
    assert f"originals/{photo['name']}" in aws.object_keys()


def test_a_private_photo_reaches_its_owner_and_no_shared_cache(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    photo = ready(functions, context, BOB, "private")
    looked_up = catalogue(functions, context, BOB, "GET", photo["id"])
    assert looked_up["statusCode"] == 200
    assert json.loads(looked_up["body"])["mine"] is True
    for answer in download(functions, context, BOB, photo):
        assert answer["statusCode"] == 200, answer["body"]
        assert headers_of(answer)["Cache-Control"] == "private, no-store"


def test_a_public_owned_photo_is_seen_by_anyone_but_deleted_or_changed_by_its_owner_only(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    photo = ready(functions, context, ALICE)
    for caller in (BOB, None):
        looked_up = json.loads(catalogue(functions, context, caller, "GET", photo["id"])["body"])
        assert (looked_up["id"], looked_up["mine"]) == (photo["id"], False)
        assert all(a["statusCode"] == 200 for a in download(functions, context, caller, photo))
        assert error_of(catalogue(functions, context, caller, "DELETE", photo["id"])) == (
            403,
            "Forbidden",
        )
    assert error_of(change(functions, context, BOB, photo["id"], "private")) == (403, "Forbidden")
    assert catalogue(functions, context, ALICE, "DELETE", photo["id"])["statusCode"] == 204
    assert aws.record_ids() == []
    assert aws.object_keys() == []


def test_a_delete_token_never_deletes_an_owned_image(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """Even a record that somehow kept a token's hash: ownership decides, not the token."""
    name = names.new_id() + ".jpg"
    token = aws.add_record(name, owner=ALICE)
    stored = aws.record(name[:26]) or {}
    forged = {**stored, "delete_token_hash": records.token_hash(token)}
    aws.dynamodb.put_item(
        TableName=TABLE, Item={k: records._serialize(v) for k, v in forged.items()}
    )
    for caller in (None, BOB):
        answer = catalogue(
            functions, context, caller, "DELETE", name[:26], headers={"X-Delete-Token": token}
        )
        assert error_of(answer) == (403, "Forbidden")
    assert aws.record_ids() == [name[:26]]


def test_an_anonymous_photo_cannot_be_changed_or_claimed(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    photo = uploaded(functions, context, None)
    assert error_of(change(functions, context, ALICE, photo["id"], "private")) == (403, "Forbidden")
    assert "owner" not in (aws.record(photo["id"]) or {})


def test_the_feed_says_which_photos_are_the_callers(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    alices = [uploaded(functions, context, ALICE)["id"] for _ in range(2)]
    bobs = uploaded(functions, context, BOB)["id"]
    anonymous = uploaded(functions, context, None)["id"]
    assert feed(functions, context, ALICE) == {
        alices[0]: True,
        alices[1]: True,
        bobs: False,
        anonymous: False,
    }
    assert feed(functions, context, BOB) == {
        alices[0]: False,
        alices[1]: False,
        bobs: True,
        anonymous: False,
    }
    assert set(feed(functions, context, None).values()) == {False}


# --- changes of visibility -----------------------------------------------------------------


def test_a_change_of_visibility_holds_from_the_next_request_on(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    photo = ready(functions, context, ALICE)
    assert photo["id"] in feed(functions, context, BOB)
    made_private = change(functions, context, ALICE, photo["id"], "private")
    assert made_private["statusCode"] == 200, made_private["body"]
    assert json.loads(made_private["body"])["visibility"] == "private"
    assert photo["id"] not in feed(functions, context, BOB)
    assert photo["id"] not in feed(functions, context, None)
    assert error_of(catalogue(functions, context, BOB, "GET", photo["id"])) == (404, "NotFound")
    assert {error_of(a) for a in download(functions, context, BOB, photo)} == {(404, "NotFound")}
    assert {headers_of(a)["Cache-Control"] for a in download(functions, context, ALICE, photo)} == {
        "private, no-store"
    }

    assert change(functions, context, ALICE, photo["id"], "public")["statusCode"] == 200
    assert photo["id"] in feed(functions, context, BOB)
    for answer in download(functions, context, BOB, photo):
        assert answer["statusCode"] == 200
        assert headers_of(answer)["Cache-Control"].startswith("public, ")


def test_making_a_photo_private_takes_it_off_the_edge_caches(
    functions: Functions, aws: Aws, context: LambdaContext, distribution: Distribution
) -> None:
    photo = ready(functions, context, ALICE)
    assert change(functions, context, ALICE, photo["id"], "public")["statusCode"] == 200
    assert distribution.invalidations() == []  # nothing was kept that must go
    assert change(functions, context, ALICE, photo["id"], "private")["statusCode"] == 200
    (batch,) = distribution.invalidations()
    assert batch["Paths"]["Items"] == [
        f"/download/{photo['name']}",
        f"/download-thumbnail/{photo['name']}*",
    ]


def test_a_change_needs_a_visibility(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    photo = uploaded(functions, context, ALICE)
    for value in (None, "", "hidden", ["private"]):
        assert error_of(change(functions, context, ALICE, photo["id"], value)) == (
            400,
            "InvalidVisibility",
        )
    event = catalogue_event("PATCH", photo["id"])
    event["body"] = "{not json"
    answer = functions.catalogue.handler(as_user(event, ALICE, via="pool"), context)
    assert error_of(answer) == (400, "MalformedRequest")
    assert aws.record(photo["id"])["visibility"] == "public"  # type: ignore[index]


def test_a_photo_made_public_while_its_bytes_are_on_the_way_is_listed_when_they_arrive(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    created = json.loads(ticket(functions, context, ALICE, "private")["body"])
    assert change(functions, context, ALICE, created["id"], "public")["statusCode"] == 200
    assert "feed" not in (aws.record(created["id"]) or {})  # not listed while uploading
    aws.put(names.incoming_key(created["id"]), images.jpeg(64, 48))
    assert deliver(functions, context, created["id"]) == {"batchItemFailures": []}
    record = aws.record(created["id"]) or {}
    assert (record["status"], record["owner"], record["feed"]) == ("ready", ALICE.key, "all")


@pytest.mark.parametrize("to", ["private", "public"])
def test_a_change_of_visibility_racing_the_worker_ends_as_the_owner_asked(
    functions: Functions, aws: Aws, context: LambdaContext, to: str
) -> None:
    """The owner's change lands between the worker reading the ticket and marking it ingested:
    the worker's write assumed the old visibility, is refused, and writes the other way."""
    start = "public" if to == "private" else "private"
    created = json.loads(ticket(functions, context, ALICE, start)["body"])
    aws.put(names.incoming_key(created["id"]), images.jpeg(64, 48))
    client = functions.worker.catalogue.client
    changed: list[int] = []

    def owner_changes_it_first(**_: Any) -> None:
        if not changed:
            changed.append(change(functions, context, ALICE, created["id"], to)["statusCode"])

    client.meta.events.register("before-call.dynamodb.UpdateItem", owner_changes_it_first)
    try:
        assert deliver(functions, context, created["id"]) == {"batchItemFailures": []}
    finally:
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", owner_changes_it_first)
    assert changed == [200]
    record = aws.record(created["id"]) or {}
    assert (record["status"], record["visibility"]) == ("ready", to)
    assert ("feed" in record) is (to == "public")
    assert (created["id"] in feed(functions, context, BOB)) is (to == "public")


def test_a_change_racing_the_bytes_arrival_ends_as_the_owner_asked(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """The worker ingests between the owner's change reading the ticket and writing: the
    change's write assumed `uploading`, is refused, reads again, and lists the image."""
    created = json.loads(ticket(functions, context, ALICE, "private")["body"])
    aws.put(names.incoming_key(created["id"]), images.jpeg(64, 48))
    client = functions.catalogue.catalogue.client
    arrived: list[Any] = []

    def bytes_arrive_first(**_: Any) -> None:
        if not arrived:
            arrived.append(deliver(functions, context, created["id"]))

    client.meta.events.register("before-call.dynamodb.UpdateItem", bytes_arrive_first)
    try:
        assert change(functions, context, ALICE, created["id"], "public")["statusCode"] == 200
    finally:
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", bytes_arrive_first)
    assert arrived == [{"batchItemFailures": []}]
    record = aws.record(created["id"]) or {}
    assert (record["status"], record["visibility"], record.get("feed")) == (
        "ready",
        "public",
        "all",
    )


# --- one's own images ----------------------------------------------------------------------


def test_my_images_page_newest_first_with_every_status_but_deleting(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    now = int(time.time() * 1000)
    ids = [names.new_id(now - 1000 * (9 - n)) for n in range(9)]  # oldest first
    statuses = [
        "ready",
        "uploading",
        "pending",
        "failed",
        "rejected",
        "deleting",
        "ready",
        "ready",
        "ready",
    ]
    for image_id, status in zip(ids, statuses, strict=True):
        aws.add_record(f"{image_id}.jpg", status, owner=ALICE, visibility="private")
    aws.add_record(f"{names.new_id(now)}.jpg", owner=BOB)
    aws.add_record(f"{names.new_id(now)}.jpg")
    expected = [i for i, s in zip(ids, statuses, strict=True) if s != "deleting"][::-1]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = json.loads(my_images(functions, context, ALICE, **query)["body"])
        assert all(item["mine"] and item["visibility"] == "private" for item in page["items"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


def test_a_cursor_of_one_owners_images_works_for_that_owner_only(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    for _ in range(3):
        aws.add_record(f"{names.new_id()}.jpg", owner=ALICE)
    alices = json.loads(my_images(functions, context, ALICE, limit="1")["body"])["next_cursor"]
    public = json.loads(catalogue(functions, context, None, "GET", limit="1")["body"])[
        "next_cursor"
    ]
    assert alices
    assert public
    assert error_of(my_images(functions, context, BOB, cursor=alices)) == (400, "InvalidCursor")
    assert error_of(my_images(functions, context, ALICE, cursor=public)) == (400, "InvalidCursor")
    assert error_of(catalogue(functions, context, None, "GET", cursor=alices)) == (
        400,
        "InvalidCursor",
    )
    assert error_of(my_images(functions, context, ALICE, limit="0")) == (400, "InvalidLimit")
    assert my_images(functions, context, ALICE, cursor=alices)["statusCode"] == 200


def test_the_routes_of_a_person_show_and_change_nothing_without_one(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    """API Gateway's user-pool authorizer answers 401 first; reached without it, the function
    itself refuses."""
    photo = uploaded(functions, context, ALICE)
    assert error_of(my_images(functions, context, None)) == (403, "Forbidden")
    assert error_of(change(functions, context, None, photo["id"], "private")) == (403, "Forbidden")
    assert aws.record(photo["id"])["visibility"] == "public"  # type: ignore[index]


# --- the open-ticket cap -------------------------------------------------------------------


def test_a_user_holds_at_most_twenty_open_tickets_from_the_last_day(
    functions: Functions, aws: Aws, context: LambdaContext
) -> None:
    catalogue_table = records.Catalogue(aws.dynamodb, TABLE)
    day_ago = int(time.time() * 1000) - 86_400_000 - 60_000
    for _ in range(3):  # older than a day: they no longer count
        catalogue_table.create(
            records.uploading_record(
                image_id=names.new_id(day_ago),
                filename="old.jpg",
                content_type="image/jpeg",
                size=1,
                token_hash=None,
                owner=ALICE,
            )
        )
    used = json.loads(ticket(functions, context, ALICE)["body"])
    aws.put(names.incoming_key(used["id"]), images.jpeg(64, 48))
    assert deliver(functions, context, used["id"]) == {"batchItemFailures": []}  # no longer open
    for number in range(MAX_OPEN_TICKETS):
        assert ticket(functions, context, ALICE)["statusCode"] == 201, number
    refused = ticket(functions, context, ALICE)
    assert error_of(refused) == (429, "TooManyOpenUploads")
    # The oldest open ticket stops counting a day after it was made.
    assert 86_000 < int(headers_of(refused)["Retry-After"]) <= 86_400
    assert headers_of(refused)["Cache-Control"] == "no-store"
    # Others are not held back by Alice's tickets, nor anonymous clients (throttle and WAF).
    assert ticket(functions, context, BOB)["statusCode"] == 201
    assert ticket(functions, context, None)["statusCode"] == 201


# --- the one helper ------------------------------------------------------------------------


def test_identity_is_the_issuer_and_subject_from_either_authorizer_never_the_email() -> None:
    base: dict[str, Any] = {"requestContext": {}}
    pool = as_user(base, ALICE, via="pool")
    optional = as_user(base, ALICE)
    assert identity.caller(pool) == identity.caller(optional) == ALICE
    pool["requestContext"]["authorizer"]["claims"]["email"] = "bob@example.com"
    assert identity.caller(pool) == ALICE
    assert identity.caller(as_user(base, None)) is None
    assert identity.caller(base) is None
    assert identity.caller({}) is None
    empty = {"requestContext": {"authorizer": {"iss": "", "sub": "x", "principalId": "x"}}}
    assert identity.caller(empty) is None
    assert ALICE.key == f"{ALICE.issuer}|{ALICE.subject}"
