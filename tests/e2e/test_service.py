"""The dev stage end to end over HTTP: what a client of `make local` sees."""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from PIL import Image

from local_runner.harness import RunnerProcess, poll
from samples import images
from tests.e2e.conftest import PROJECT
from tests.support import images_bucket

pytestmark = pytest.mark.slow  # drives the local runner

RENDITIONS: dict[str, dict[str, Any]] = json.loads((PROJECT / "cdk.json").read_text())["context"][
    "stages"
]["dev"]["renditions"]
FORMATS: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("jpg", images.jpeg, "image/jpeg", "JPEG"),
    ("png", images.png_alpha, "image/png", "PNG"),
    ("gif", images.animated_gif, "image/gif", "GIF"),
    ("webp", images.webp, "image/webp", "WEBP"),
]
THUMBNAIL_DEADLINE_S = 60


def upload(service: RunnerProcess, data: bytes, **headers: str) -> requests.Response:
    headers.setdefault("Content-Type", "application/octet-stream")
    return requests.post(f"{service.url}/upload", data=data, headers=headers, timeout=30)


def thumbnail(service: RunnerProcess, name: str, rendition: str | None = None) -> requests.Response:
    """The thumbnail once it is made (polling with a deadline)."""

    def ready() -> requests.Response | None:
        params = {"size": rendition} if rendition else None
        response = requests.get(
            f"{service.url}/download-thumbnail/{name}", params=params, timeout=30
        )
        if response.status_code == 404 and response.json()["error"]["code"] == "ThumbnailPending":
            return None
        return response

    return poll(ready, THUMBNAIL_DEADLINE_S, f"the thumbnail of {name}")


def queues(service: RunnerProcess) -> tuple[str, str]:
    """(job queue URL, dead-letter queue URL), told apart by the redrive policy."""
    sqs = service.client("sqs")
    for url in service.state["queues"].values():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        if policy:
            dead_letter_name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[1]
            return url, sqs.get_queue_url(QueueName=dead_letter_name)["QueueUrl"]
    raise AssertionError("no queue with a redrive policy")


def originals(service: RunnerProcess) -> set[str]:
    listing = service.client("s3").list_objects_v2(
        Bucket=images_bucket(service), Prefix="originals/"
    )
    return {item["Key"] for item in listing.get("Contents", [])}


def messages_in(service: RunnerProcess, url: str) -> int:
    attributes = service.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def check_rendition(image: Image.Image, source: tuple[int, int], spec: dict[str, Any]) -> None:
    box = (spec["width"], spec["height"])
    assert image.width <= box[0]
    assert image.height <= box[1]
    if spec["fit"] == "cover" and source[0] >= box[0] and source[1] >= box[1]:
        assert image.size == box
    if spec["fit"] == "contain" and (source[0] > box[0] or source[1] > box[1]):
        assert image.width == box[0] or image.height == box[1]


def assert_not_modified(url: str, fetched: requests.Response) -> None:
    """A conditional GET for what was fetched: 304, no body, and the representation's own
    Content-Type (not the JSON type API Gateway gives an answer without one)."""
    again = requests.get(url, headers={"If-None-Match": fetched.headers["ETag"]}, timeout=30)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["Content-Type"] == fetched.headers["Content-Type"]


@pytest.mark.parametrize(("ext", "make", "content_type", "pil_format"), FORMATS)
def test_each_format_uploads_and_every_rendition_is_made(
    service: RunnerProcess, ext: str, make: Callable[[], bytes], content_type: str, pil_format: str
) -> None:
    data = make()
    source = Image.open(io.BytesIO(data))
    response = upload(service, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == f"{body['id']}.{ext}"
    assert (body["content_type"], body["size"]) == (content_type, len(data))
    assert (body["width"], body["height"]) == source.size
    assert response.headers["Location"].endswith(f"/download/{body['name']}")

    original = requests.get(f"{service.url}{body['links']['image']}", timeout=30)
    assert original.status_code == 200
    assert original.content == data
    assert original.headers["Content-Type"] == content_type
    assert_not_modified(f"{service.url}{body['links']['image']}", original)

    for rendition, spec in RENDITIONS.items():
        made = thumbnail(service, body["name"], rendition)
        assert made.status_code == 200, made.text
        image = Image.open(io.BytesIO(made.content))
        assert Image.MIME[image.format or ""] == made.headers["Content-Type"]
        check_rendition(image, source.size, spec)
        assert_not_modified(made.url, made)
    default = thumbnail(service, body["name"])
    assert default.status_code == 200


def test_each_body_form_is_accepted(service: RunnerProcess) -> None:
    data = images.jpeg(320, 200)
    raw = upload(service, data, **{"Content-Type": "image/jpeg", "X-Filename": "raw.jpg"})
    multipart = requests.post(
        f"{service.url}/upload",
        files={"file": ("form.jpg", data, "image/jpeg")},
        timeout=30,
    )
    as_json = requests.post(
        f"{service.url}/upload",
        json={
            "file": {
                "filename": "json.jpg",
                "content": base64.b64encode(data).decode(),
                "content_type": "image/jpeg",
            }
        },
        timeout=30,
    )
    for response, filename in ((raw, "raw.jpg"), (multipart, "form.jpg"), (as_json, "json.jpg")):
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["filename"] == filename
        assert requests.get(f"{service.url}/download/{body['name']}", timeout=30).content == data
        assert thumbnail(service, body["name"]).status_code == 200


REFUSED = [
    ("random bytes", images.random_bytes, 415, "UnsupportedMediaType"),
    ("tiff", images.tiff, 415, "UnsupportedMediaType"),
    ("svg", images.svg_with_script, 415, "UnsupportedMediaType"),
    ("truncated jpeg", images.truncated_jpeg, 422, "InvalidImage"),
    ("decompression bomb", images.png_header_declaring, 422, "InvalidImage"),
    ("empty", lambda: b"", 400, "MalformedRequest"),
    ("over the upload limit", lambda: b"\xff\xd8" + b"\0" * 4_600_000, 413, "PayloadTooLarge"),
]


def test_refused_inputs_leave_bucket_and_queue_untouched(service: RunnerProcess) -> None:
    job_queue, _ = queues(service)
    poll(lambda: messages_in(service, job_queue) == 0, 60, "earlier jobs to finish")
    before = originals(service)
    for label, make, status, code in REFUSED:
        response = upload(service, make())
        assert response.status_code == status, (label, response.text)
        assert response.json()["error"]["code"] == code, label
    broken_json = requests.post(
        f"{service.url}/upload",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert broken_json.status_code == 400
    assert originals(service) == before
    assert messages_in(service, job_queue) == 0


def test_request_over_api_gateway_limit_is_413_from_the_gateway(service: RunnerProcess) -> None:
    response = upload(service, b"\0" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json() == {"message": "Request Too Long"}


def test_twenty_parallel_uploads_all_get_their_thumbnails(service: RunnerProcess) -> None:
    bodies = [images.jpeg(480, 360 + i) for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda data: upload(service, data), bodies))
    assert [r.status_code for r in responses] == [201] * 20
    names = [r.json()["name"] for r in responses]
    assert len(set(names)) == 20
    with ThreadPoolExecutor(20) as pool:
        thumbnails = list(pool.map(lambda name: thumbnail(service, name), names))
    assert [t.status_code for t in thumbnails] == [200] * 20


def test_a_poison_message_ends_in_the_dead_letter_queue(service: RunnerProcess) -> None:
    job_queue, dead_letters = queues(service)
    sqs = service.client("sqs")
    sqs.send_message(QueueUrl=job_queue, MessageBody="this is not a job")

    def in_dead_letters() -> dict[str, Any] | None:
        received = sqs.receive_message(
            QueueUrl=dead_letters, WaitTimeSeconds=1, AttributeNames=["All"], VisibilityTimeout=0
        )
        for message in received.get("Messages", []):
            if message["Body"] == "this is not a job":
                return dict(message)
        return None

    message = poll(in_dead_letters, 90, "the poison message in the DLQ")
    policy = sqs.get_queue_attributes(QueueUrl=job_queue, AttributeNames=["RedrivePolicy"])
    max_receive_count = json.loads(policy["Attributes"]["RedrivePolicy"])["maxReceiveCount"]
    assert int(message["Attributes"]["ApproximateReceiveCount"]) >= max_receive_count
    assert "failures=1" in service.log_text()


def test_unknown_routes_and_methods(service: RunnerProcess) -> None:
    assert requests.get(f"{service.url}/nope", timeout=10).status_code == 404
    assert requests.get(f"{service.url}/download/a/b", timeout=10).status_code == 404
    assert requests.delete(f"{service.url}/upload", timeout=10).status_code == 405


def test_stage_prefix_and_encoded_slashes(service: RunnerProcess) -> None:
    response = upload(service, images.png(64, 48))  # the unprefixed URL ...
    name = response.json()["name"]
    prefixed = requests.get(f"{service.url}/dev/download/{name}", timeout=10)  # ... and /dev
    assert prefixed.status_code == 200
    traversal = requests.get(f"{service.url}/download/..%2Foriginals%2F{name}", timeout=10)
    assert traversal.status_code == 400
    assert traversal.json()["error"]["code"] == "InvalidName"


@pytest.mark.parametrize("prefix", ["", "/dev"], ids=["root", "stage-path"])
def test_location_is_the_runners_own_address_whatever_host_and_proto_the_client_sends(
    service: RunnerProcess, prefix: str
) -> None:
    forged = {"Host": "evil.example", "X-Forwarded-Proto": "javascript"}
    created = requests.post(
        f"{service.url}{prefix}/upload",
        data=images.png(32, 32),
        headers={"Content-Type": "image/png", **forged},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{service.url}{prefix}/download/{created.json()['name']}"
    ticket = requests.post(
        f"{service.url}{prefix}/uploads",
        json={"filename": "a.png", "content_type": "image/png", "size": 100},
        headers=forged,
        timeout=30,
    )
    assert ticket.status_code == 201, ticket.text
    assert ticket.headers["Location"] == f"{service.url}{prefix}/images/{ticket.json()['id']}"


def test_cors_preflight(service: RunnerProcess) -> None:
    response = requests.options(
        f"{service.url}/upload",
        headers={"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_an_original_too_large_for_a_lambda_response_comes_by_presigned_url(
    service: RunnerProcess,
) -> None:
    noise = Image.frombytes("RGB", (1200, 1180), random.Random(3).randbytes(1200 * 1180 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    assert 4_000_000 < len(data) <= 4_500_000
    response = upload(service, data)
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    redirect = requests.get(f"{service.url}/download/{name}", allow_redirects=False, timeout=30)
    assert redirect.status_code in (302, 307)
    assert redirect.headers["Location"].startswith(service.state["moto_endpoint"])
    presigned = requests.get(redirect.headers["Location"], timeout=30)
    assert presigned.content == data
    # The bucket answers with the type and disposition the URL pins, not the object's own.
    assert presigned.headers["Content-Type"] == "image/png"
    assert presigned.headers["Content-Disposition"] == f'inline; filename="{name}"'


def test_the_catalogue_lists_looks_up_and_deletes_over_http(service: RunnerProcess) -> None:
    created = upload(service, images.jpeg(640, 480), **{"X-Filename": "holiday.jpg"})
    assert created.status_code == 201, created.text
    image = created.json()
    assert image["status"] == "pending"
    status_url = f"{service.url}{image['links']['status']}"

    def ready() -> dict[str, Any] | None:
        looked = requests.get(status_url, timeout=30).json()
        return looked if looked["status"] == "ready" else None

    record = poll(ready, THUMBNAIL_DEADLINE_S, "the image to become ready")
    assert set(record["renditions"]) == set(RENDITIONS)
    assert record["filename"] == "holiday.jpg"
    feed = requests.get(f"{service.url}/images", params={"limit": 100}, timeout=30).json()
    assert image["id"] in [item["id"] for item in feed["items"]]
    assert all("delete_token" not in item for item in feed["items"])

    wrong = requests.delete(status_url, headers={"X-Delete-Token": "guess"}, timeout=30)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "Forbidden")
    token = {"X-Delete-Token": image["delete_token"]}
    assert requests.delete(status_url, headers=token, timeout=30).status_code == 204
    assert requests.get(status_url, timeout=30).status_code == 404
    assert requests.get(f"{service.url}/download/{image['name']}", timeout=30).status_code == 404
    thumb = requests.get(f"{service.url}/download-thumbnail/{image['name']}", timeout=30)
    assert (thumb.status_code, thumb.json()["error"]["code"]) == (404, "NotFound")
    feed = requests.get(f"{service.url}/images", params={"limit": 100}, timeout=30).json()
    assert image["id"] not in [item["id"] for item in feed["items"]]
    left = [
        key
        for key in service.client("s3")
        .list_objects_v2(Bucket=images_bucket(service))
        .get("Contents", [])
        if image["id"] in key["Key"]
    ]
    assert left == []
    assert requests.delete(status_url, headers=token, timeout=30).status_code == 404


def test_feed_paging_refuses_a_tampered_cursor(service: RunnerProcess) -> None:
    for _ in range(3):
        assert upload(service, images.png(32, 32)).status_code == 201
    first = requests.get(f"{service.url}/images", params={"limit": 1}, timeout=30).json()
    cursor = first["next_cursor"]
    assert cursor
    following = requests.get(
        f"{service.url}/images", params={"limit": 1, "cursor": cursor}, timeout=30
    )
    assert following.status_code == 200
    assert following.json()["items"][0]["id"] < first["items"][0]["id"]
    tampered = requests.get(
        f"{service.url}/images", params={"limit": 1, "cursor": cursor[:-2] + "xx"}, timeout=30
    )
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (400, "InvalidCursor")
    bad_limit = requests.get(f"{service.url}/images", params={"limit": 0}, timeout=30)
    assert (bad_limit.status_code, bad_limit.json()["error"]["code"]) == (400, "InvalidLimit")
