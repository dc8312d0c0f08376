"""Who can read or write what, checked against the prod stage served by the local runner: as
it ships (accounts required: every write needs a signed-in person, the public feed and public
downloads stay open) and with an API key on top.

What the template guarantees is asserted in tests/infra and not repeated here: the bucket
blocks all public access and refuses non-TLS requests (test_buckets_block_all_public_access,
test_buckets_refuse_requests_without_tls), the queues refuse non-TLS requests, the stage is
throttled (test_stage_is_throttled_and_access_logged), which methods take which authorizer in
each accounts mode (tests/infra/test_accounts.py), and each function's grants are scoped to its
key prefix. Id randomness (80 bits from `secrets`) is tested in tests/functions/test_names.py.
"""

from __future__ import annotations

import pytest
import requests

from local_runner.harness import RunnerProcess, poll
from samples import images
from tests.access.conftest import OWNER, PROD_API_KEY
from tests.support import images_bucket, keys, post

pytestmark = pytest.mark.slow  # drives the local runner

KEY = {"x-api-key": PROD_API_KEY}


def signed_in(service: RunnerProcess, user: tuple[str, str] = OWNER) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.id_token(*user)}"}


def upload(service: RunnerProcess, **headers: str) -> str:
    response = post(service, images.jpeg(320, 240), "image/jpeg", **signed_in(service), **headers)
    assert response.status_code == 201, response.text
    name: str = response.json()["name"]
    return name


WRITES = ["POST /upload", "POST /uploads", "DELETE /images/", "PATCH /images/", "GET /me/images"]


@pytest.mark.parametrize(
    "token",
    ["none", "garbage", "tampered"],
)
@pytest.mark.parametrize("route", WRITES)
def test_prod_writes_refuse_requests_without_a_person(
    prod: RunnerProcess, route: str, token: str
) -> None:
    name = upload(prod)
    method, path = route.split(" ")
    target = f"{prod.url}{path}{name[:26] if path.endswith('/') else ''}"
    good = prod.id_token(*OWNER)
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "tampered": {
            "Authorization": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        },
    }[token]

    # What a write would change (thumbnails are the worker's, still being made meanwhile).
    def stored() -> tuple[list[str], list[str]]:
        return keys(prod, "originals/"), keys(prod, "incoming/")

    before = stored()
    response = requests.request(
        method, target, data=images.jpeg(64, 48), headers=headers, timeout=30
    )
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}
    assert stored() == before


def test_prod_reads_are_open_and_writes_answer_a_person(prod: RunnerProcess) -> None:
    name = upload(prod)
    response = requests.get(f"{prod.url}/download/{name}", timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    feed = requests.get(f"{prod.url}/images", timeout=30)
    assert feed.status_code == 200
    assert name in [item["name"] for item in feed.json()["items"]]


def test_a_tampered_token_is_refused_on_open_reads_too(prod: RunnerProcess) -> None:
    token = prod.id_token(*OWNER)
    response = requests.get(
        f"{prod.url}/images", headers={"Authorization": token[:-2] + "xx"}, timeout=30
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong-key"}, {"x-api-key": ""}, {"x-api-key": PROD_API_KEY + "x"}],
    ids=["no-key", "wrong-key", "empty-key", "key-with-suffix"],
)
@pytest.mark.parametrize("route", ["POST /upload", "GET /download/", "GET /download-thumbnail/"])
def test_keyed_routes_refuse_requests_without_the_api_key(
    keyed: RunnerProcess, route: str, headers: dict[str, str]
) -> None:
    name = upload(keyed, **KEY)
    method, path = route.split(" ")
    target = f"{keyed.url}{path}{name if path.endswith('/') else ''}"
    before = keys(keyed, "originals/")
    response = requests.request(
        method,
        target,
        data=images.jpeg(64, 48),
        headers={**signed_in(keyed), **headers},
        timeout=30,
    )
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert keys(keyed, "originals/") == before


def test_keyed_routes_answer_with_the_api_key(keyed: RunnerProcess) -> None:
    name = upload(keyed, **KEY)
    response = requests.get(f"{keyed.url}/download/{name}", headers=KEY, timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_anonymous_request_to_the_bucket_is_refused(prod: RunnerProcess) -> None:
    """Straight to the (emulated) bucket, bypassing the API, unsigned: 403.

    moto refuses unsigned object reads; it does not emulate S3's refusal of unsigned
    listings or writes, which the template's public access block and TLS-only policy
    guarantee in AWS (asserted in tests/infra)."""
    name = upload(prod)
    thumbnail = f"thumbnails/thumb/{name}"
    poll(lambda: thumbnail in keys(prod, "thumbnails/"), 60, "the thumbnail")
    for key in (f"originals/{name}", thumbnail):
        response = requests.get(f"{prod.moto_endpoint}/{images_bucket(prod)}/{key}", timeout=30)
        assert response.status_code == 403, key


PROBES = [
    ("GET", "/upload"),
    ("GET", "/download"),
    ("GET", "/download/"),
    ("GET", "/download/*"),
    ("GET", "/download/originals"),
    ("GET", "/download/%2E%2E%2Foriginals%2F"),
    ("GET", "/download-thumbnail/"),
    ("GET", "/download-thumbnail/_failed"),
    ("GET", "/download-thumbnail/..%2F_failed"),
    ("GET", "/prod/"),
    ("GET", "/prod/download/"),
    ("OPTIONS", "/download/"),
    ("HEAD", "/download/"),
    ("DELETE", "/download/01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"),
    ("PUT", "/upload"),
]


@pytest.mark.parametrize(("method", "path"), PROBES, ids=[f"{m} {p}" for m, p in PROBES])
def test_no_route_lists_or_exposes_keys(prod: RunnerProcess, method: str, path: str) -> None:
    upload(prod)
    response = requests.request(method, f"{prod.url}{path}", headers=signed_in(prod), timeout=30)
    assert response.status_code >= 400 or response.status_code == 204
    for leak in (images_bucket(prod), "originals/", "thumbnails/", "ListBucketResult", "<Key>"):
        assert leak not in response.text
        assert all(leak not in value for value in response.headers.values())


def test_the_gallery_page_is_public_and_names_no_bucket_or_key(keyed: RunnerProcess) -> None:
    """The page itself needs no key (the distribution serves it from the site bucket to
    anyone); it asks for the key, and the API checks it."""
    for path in ("/", "/config.json"):
        response = requests.get(f"{keyed.url}{path}", timeout=30)
        assert response.status_code == 200, path
        for leak in (images_bucket(keyed), "originals/", "thumbnails/", PROD_API_KEY):
            assert leak not in response.text
            assert all(leak not in value for value in response.headers.values())
    assert requests.get(f"{keyed.url}/config.json", timeout=30).json()["apiKeyRequired"] is True
    assert requests.get(f"{keyed.url}/images", timeout=30).status_code == 403


def test_a_neighbouring_id_finds_nothing(prod: RunnerProcess) -> None:
    """Ids are not sequential: the name next to a real one is not an image."""
    name = upload(prod)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    last = name[25]
    neighbour = name[:25] + alphabet[(alphabet.index(last) + 1) % 32] + name[26:]
    response = requests.get(f"{prod.url}/download/{neighbour}", timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
