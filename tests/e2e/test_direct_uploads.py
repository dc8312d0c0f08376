"""Direct uploads end to end through the local runner: a ticket from the API, the bytes posted
straight to the bucket's endpoint (with S3's POST policy enforced), the bucket's event, the
worker's ingest, and the thumbnails served."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest
import requests
from PIL import Image

from local_runner.harness import RunnerProcess, poll
from samples import images
from tests.e2e.conftest import PROJECT
from tests.support import images_bucket, keys

pytestmark = pytest.mark.slow  # drives the local runner

FINAL = {"ready", "failed", "rejected"}


def ticket(service: RunnerProcess, data: bytes, content_type: str = "image/jpeg") -> Any:
    response = requests.post(
        f"{service.url}/uploads",
        json={"filename": "IMG_0001.jpg", "content_type": content_type, "size": len(data)},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def post(created: Any, data: bytes, **changes: str) -> requests.Response:
    """The browser's form POST: the ticket's fields (changed as asked), the file last."""
    fields = {**created["upload"]["fields"], **changes}
    return requests.post(
        created["upload"]["url"],
        data=fields,
        files={"file": ("IMG_0001.jpg", data, fields.get("Content-Type", "image/jpeg"))},
        timeout=300,
    )


def settled(service: RunnerProcess, created: Any, deadline_s: float = 120) -> Any:
    url = f"{service.url}/images/{created['id']}"

    def final() -> Any:
        record = requests.get(url, timeout=30).json()
        return record if record["status"] in FINAL else None

    return poll(final, deadline_s, f"the upload {created['id']} to settle")


def s3_error(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/xml"
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def test_a_20_mb_48_mp_photo_goes_from_ticket_to_ready(service: RunnerProcess) -> None:
    data = images.jpeg(8000, 6000, quality=92)
    assert 15_000_000 < len(data) < 30_000_000
    created = ticket(service, data)
    assert post(created, data).status_code == 204
    record = settled(service, created, deadline_s=180)
    assert record["status"] == "ready", record
    assert (record["width"], record["height"], record["size"]) == (8000, 6000, len(data))
    thumb = requests.get(f"{service.url}{record['links']['thumbnail']}", timeout=30)
    assert thumb.status_code == 200
    assert Image.open(io.BytesIO(thumb.content)).size == (256, 192)
    original = requests.get(f"{service.url}{record['links']['image']}", timeout=60)
    assert original.status_code == 200  # through the 307 to a presigned URL
    assert original.content == data
    assert keys(service, f"incoming/{created['id']}") == []


@pytest.mark.parametrize(
    ("label", "size", "changes", "status", "code"),
    [
        ("oversize", 50_000_001, {}, 400, "EntityTooLarge"),
        ("empty", 0, {}, 400, "EntityTooSmall"),
        (
            "wrong-key",
            100,
            {"key": "originals/01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"},
            403,
            "AccessDenied",
        ),
        ("wrong-type", 100, {"Content-Type": "text/html"}, 403, "AccessDenied"),
        ("tampered-signature", 100, {"x-amz-signature": "0" * 64}, 403, "SignatureDoesNotMatch"),
    ],
)
def test_a_post_that_breaks_its_policy_gets_s3s_error_and_stores_nothing(
    service: RunnerProcess, label: str, size: int, changes: dict[str, str], status: int, code: str
) -> None:
    created = ticket(service, b"\xff\xd8\xff" + bytes(100))
    response = post(created, b"\xff" * size, **changes)
    assert (response.status_code, s3_error(response)) == (status, code)
    assert keys(service, f"incoming/{created['id']}") == []
    assert keys(service, "originals/01JDXK9V3Q8ZJ4W6M2T5R7Y0AB") == []
    looked = requests.get(f"{service.url}/images/{created['id']}", timeout=30).json()
    assert looked["status"] == "uploading"


@pytest.mark.parametrize(
    ("label", "data", "code"),
    [
        ("not-an-image", b"%PDF-1.7\n" + bytes(200), "UnsupportedMediaType"),
        ("truncated", images.truncated_jpeg(), "InvalidImage"),
    ],
)
def test_bytes_that_are_no_image_end_rejected_with_nothing_left(
    service: RunnerProcess, label: str, data: bytes, code: str
) -> None:
    created = ticket(service, data)
    assert post(created, data).status_code == 204
    record = settled(service, created)
    assert (record["status"], record["error"]["code"]) == ("rejected", code)
    assert keys(service, f"incoming/{created['id']}") == []
    assert keys(service, f"originals/{created['id']}") == []


def test_a_second_upload_to_the_same_ticket_changes_nothing(service: RunnerProcess) -> None:
    first = images.jpeg(640, 480)
    created = ticket(service, first)
    assert post(created, first).status_code == 204
    record = settled(service, created)
    assert record["status"] == "ready"
    assert post(created, images.png(32, 32), **{"Content-Type": "image/jpeg"}).status_code == 204
    poll(
        lambda: keys(service, f"incoming/{created['id']}") == [],
        60,
        "the second upload to be removed",
    )
    again = requests.get(f"{service.url}/images/{created['id']}", timeout=30).json()
    assert again == record
    original = requests.get(f"{service.url}{record['links']['image']}", timeout=30)
    assert original.content == first


def test_a_page_on_the_runner_may_post_to_the_bucket(service: RunnerProcess) -> None:
    """CORS: the bucket's rules answer a browser's preflight from another origin."""
    created = ticket(service, b"x")
    preflight = requests.options(
        created["upload"]["url"],
        headers={"Origin": service.url, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", service.url)
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert created["upload"]["url"].startswith("http://127.0.0.1:")
    assert images_bucket(service) in created["upload"]["url"]


@pytest.mark.parametrize("size", ["small", "large"])
def test_the_cli_uploads_by_the_right_route_and_waits_for_ready(
    service: RunnerProcess, tmp_path: Any, size: str
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(images.jpeg(640, 480) if size == "small" else images.jpeg(3000, 2000))
    inline = str(10_000_000 if size == "small" else 100_000)  # which route the size takes
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "image_client",
            "upload",
            str(photo),
            "--url",
            service.url,
            "--max-inline",
            inline,
        ],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "ready"
    assert record["delete_token"]
    route = "POST /upload " if size == "small" else "POST /uploads "
    assert route in service.log_text()
