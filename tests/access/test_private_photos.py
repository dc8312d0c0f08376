"""Owners and private photos through the local runner, on prod as it ships: what a stranger,
an anonymous visitor and the owner each get, and tokens that must not pass."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from local_runner.harness import RunnerProcess, poll
from local_runner.tokens import unverified_claims
from samples import images
from tests.access.conftest import OWNER, STRANGER
from tests.local_runner.cognito import expired, other_pool_token, tampered
from tests.support import post

pytestmark = pytest.mark.slow  # drives the local runner

SIZES = ("thumb", "square")
FORMATS = ("jpeg", "webp")


def as_user(service: RunnerProcess, user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.id_token(*user)}"}


def private_photo(service: RunnerProcess) -> dict[str, str]:
    """The owner's private photo, once its thumbnails are made: its record as the owner sees it."""
    owner = as_user(service, OWNER)
    headers = {**owner, "X-Visibility": "private"}
    response = post(service, images.jpeg(320, 240), "image/jpeg", **headers)
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["visibility"], record["mine"], record["delete_token"]) == ("private", True, None)
    status = f"{service.url}{record['links']['status']}"
    poll(
        lambda: requests.get(status, headers=owner, timeout=30).json()["status"] == "ready",
        60,
        "the private photo to be ready",
    )
    ready: dict[str, str] = requests.get(status, headers=owner, timeout=30).json()
    return ready


def reads(service: RunnerProcess, record: dict[str, str]) -> list[str]:
    """Every URL that shows something of the image: its record, original and thumbnails."""
    name = record["name"]
    return [
        f"{service.url}/images/{record['id']}",
        f"{service.url}/download/{name}",
        *(
            f"{service.url}/download-thumbnail/{name}?size={size}&format={fmt}"
            for size in SIZES
            for fmt in FORMATS
        ),
    ]


def listed(service: RunnerProcess, path: str, headers: dict[str, str]) -> list[str]:
    response = requests.get(f"{service.url}{path}?limit=100", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_stranger_cannot_see_download_change_or_delete_a_private_photo(
    prod: RunnerProcess,
) -> None:
    record = private_photo(prod)
    for who, headers in (("stranger", as_user(prod, STRANGER)), ("anonymous", {})):
        for url in reads(prod, record):
            answer = requests.get(url, headers=headers, timeout=30)
            assert answer.status_code == 404, (who, url)
            assert answer.json()["error"]["code"] == "NotFound", (who, url)
    stranger = as_user(prod, STRANGER)
    image = f"{prod.url}/images/{record['id']}"
    changed = requests.patch(image, json={"visibility": "public"}, headers=stranger, timeout=30)
    assert changed.status_code == 404
    assert requests.delete(image, headers=stranger, timeout=30).status_code == 404
    # Still there, still private, for its owner.
    mine = requests.get(image, headers=as_user(prod, OWNER), timeout=30).json()
    assert (mine["status"], mine["visibility"]) == ("ready", "private")


def test_a_private_photo_is_never_in_the_feed_nor_kept_by_a_shared_cache(
    prod: RunnerProcess,
) -> None:
    record = private_photo(prod)
    owner = as_user(prod, OWNER)
    assert record["id"] not in listed(prod, "/images", {})
    assert record["id"] not in listed(prod, "/images", owner)  # the public feed, for anyone
    assert record["id"] in listed(prod, "/me/images", owner)
    for url in reads(prod, record)[1:]:
        answer = requests.get(url, headers=owner, timeout=30)
        assert answer.status_code == 200, url
        cache_control = answer.headers["Cache-Control"]
        assert "private" in cache_control, url
        assert "no-store" in cache_control, url
        assert "public" not in cache_control, url


def test_visibility_changes_take_effect_on_the_next_request(prod: RunnerProcess) -> None:
    record = private_photo(prod)
    owner = as_user(prod, OWNER)
    image = f"{prod.url}/images/{record['id']}"
    original = f"{prod.url}/download/{record['name']}"

    public = requests.patch(image, json={"visibility": "public"}, headers=owner, timeout=30)
    assert (public.status_code, public.json()["visibility"]) == (200, "public")
    shown = requests.get(original, timeout=30)
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"].startswith("public")
    assert record["id"] in listed(prod, "/images", {})

    private = requests.patch(image, json={"visibility": "private"}, headers=owner, timeout=30)
    assert (private.status_code, private.json()["visibility"]) == (200, "private")
    assert requests.get(original, timeout=30).status_code == 404
    assert record["id"] not in listed(prod, "/images", {})


def test_the_owner_deletes_with_a_token_alone(prod: RunnerProcess) -> None:
    """From any device: no delete token, only the owner's sign-in."""
    record = private_photo(prod)
    image = f"{prod.url}/images/{record['id']}"
    assert requests.delete(image, headers=as_user(prod, OWNER), timeout=30).status_code == 204
    assert requests.get(image, headers=as_user(prod, OWNER), timeout=30).status_code == 404


@pytest.mark.parametrize("kind", ["tampered", "expired", "other pool", "access token"])
@pytest.mark.parametrize("route", ["GET /images", "GET /me/images", "POST /upload"])
def test_tokens_that_must_not_pass_are_401_before_any_function_runs(
    prod: RunnerProcess, kind: str, route: str
) -> None:
    answer = prod.client("cognito-idp").initiate_auth(
        ClientId=prod.accounts["client_id"],  # type: ignore[index]
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": OWNER[0], "PASSWORD": OWNER[1]},
    )["AuthenticationResult"]
    make: dict[str, Callable[[], str]] = {
        "tampered": lambda: tampered(answer["IdToken"]),
        "expired": lambda: expired(unverified_claims(answer["IdToken"])),
        "other pool": lambda: other_pool_token(prod, *OWNER),
        "access token": lambda: str(answer["AccessToken"]),
    }
    method, path = route.split(" ")
    refused = requests.request(
        method,
        f"{prod.url}{path}",
        data=images.jpeg(64, 48),
        headers={"Authorization": f"Bearer {make[kind]()}", "Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
