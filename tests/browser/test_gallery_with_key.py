"""The gallery where the stage requires an API key (prod with `apiKeyRequired`, and no
accounts, so every upload is anonymous): the page asks for the key once, keeps it in the
browser, and fetches every image with it (an <img> cannot send the header)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from local_runner import harness
from tests.browser import pictures
from tests.browser.actions import choose_files, shown, upload_row
from tests.browser.conftest import Watch
from tests.local_runner.assemblies import synthesized

pytestmark = pytest.mark.slow  # starts the local runner

KEY = "gallery-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_gallery(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[harness.RunnerProcess]:
    (assembly,) = synthesized("prod", apiKeyRequired=True, accounts="off")
    log = tmp_path_factory.mktemp("keyed-gallery-runner") / "runner.log"
    with harness.start("--assembly", str(assembly), "--api-key", KEY, log=log) as runner:
        yield runner
        assert runner.stop() == 0, runner.log_text()[-3000:]


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    opened = context.new_page()
    watch.attach(opened)
    yield opened
    context.close()


def enter_key(page: Page, key: str) -> None:
    prompt = page.get_by_role("dialog", name="Enter the API key")
    expect(prompt).to_be_visible()
    prompt.get_by_label("API key").fill(key)
    prompt.get_by_role("button", name="Save key").click()


def test_the_page_asks_for_the_key_once_and_shows_images_with_it(
    page: Page, keyed_gallery: harness.RunnerProcess, watch: Watch
) -> None:
    watch.expected.append("/images?")  # the 403 for the wrong key this test enters first
    page.goto(f"{keyed_gallery.url}/")
    enter_key(page, "not-the-key")
    expect(page.get_by_text("That key was refused.")).to_be_visible()
    enter_key(page, KEY)
    expect(page.get_by_role("heading", name="No photos yet")).to_be_visible()

    choose_files(
        page,
        [
            {
                "name": "lake.jpg",
                "mimeType": "image/jpeg",
                "buffer": pictures.jpeg(pictures.scenery(900, 600, 1)),
            }
        ],
    )
    expect(upload_row(page, "lake.jpg").get_by_text("Ready", exact=True)).to_be_visible(
        timeout=30_000
    )

    page.reload()  # the key is kept: no prompt this time
    thumbnail = page.get_by_role("img", name="lake.jpg", exact=True)
    assert shown(thumbnail) > 0
    assert (thumbnail.get_attribute("src") or "").startswith("blob:")
    expect(page.get_by_role("dialog", name="Enter the API key")).to_have_count(0)
    page.get_by_role("button", name="lake.jpg").click()
    original = page.get_by_role("dialog", name="lake.jpg").get_by_role("img", name="lake.jpg")
    assert shown(original) == 900
    assert (original.get_attribute("src") or "").startswith("blob:")
    watch.check()


def test_a_first_deploy_uploads_a_photo_too_large_for_the_api_from_the_page(
    page: Page, keyed_gallery: harness.RunnerProcess, watch: Watch
) -> None:
    """prod's CORS as it ships: no domain name, and `corsOrigins` naming a site that is not
    the page's. A photo over `maxUploadBytes` goes by ticket straight to the bucket, a request
    from the page's origin to the bucket's: its CORS must let it through on the first deploy,
    before anyone could know the distribution's name."""
    big = pictures.jpeg(pictures.scenery(4032, 3024, 7, grain=100), quality=96)
    assert len(big) > 4_500_000  # prod's maxUploadBytes: the page asks for a ticket
    page.goto(f"{keyed_gallery.url}/")
    enter_key(page, KEY)
    choose_files(page, [{"name": "ridge.jpg", "mimeType": "image/jpeg", "buffer": big}])
    expect(upload_row(page, "ridge.jpg").get_by_text("Ready", exact=True)).to_be_visible(
        timeout=60_000
    )
    assert page.get_by_text("The service cannot be reached").count() == 0
    watch.check()


def test_a_large_original_opens_with_the_key(
    page: Page, keyed_gallery: harness.RunnerProcess, watch: Watch
) -> None:
    """An original over the inline limit is a redirect to a presigned URL, which the page's
    keyed request follows with its header: the bucket must let it read what it was handed."""
    big = pictures.jpeg(pictures.scenery(4032, 3024, 5, grain=100), quality=96)
    assert len(big) > 4_000_000  # the download route redirects originals above 4 MB
    headers = {"x-api-key": KEY}
    ticket = requests.post(
        f"{keyed_gallery.url}/uploads",
        json={"filename": "summit.jpg", "content_type": "image/jpeg", "size": len(big)},
        headers=headers,
        timeout=30,
    )
    assert ticket.status_code == 201, ticket.text
    form = ticket.json()["upload"]
    stored = requests.post(
        form["url"], data=form["fields"], files={"file": ("summit.jpg", big)}, timeout=60
    )
    assert stored.status_code == 204, stored.text
    status = f"{keyed_gallery.url}{ticket.json()['links']['status']}"
    harness.poll(
        lambda: requests.get(status, headers=headers, timeout=30).json()["status"] == "ready",
        60,
        "the photo to be ready",
    )

    page.goto(f"{keyed_gallery.url}/")
    enter_key(page, KEY)
    page.get_by_role("button", name="summit.jpg").click()
    viewer = page.get_by_role("dialog", name="summit.jpg")
    original = viewer.get_by_role("img", name="summit.jpg")
    assert shown(original) == 4032
    assert (original.get_attribute("src") or "").startswith("blob:")
    watch.check()
