"""The gallery page as a person uses it, in Chromium, against `make local`'s dev stage.

One visitor's session, in order: the tests share one browser profile (so the delete tokens this
browser keeps carry from one to the next, as they would for a person) and one runner, whose
feed starts empty. Each test opens the page afresh and fails on any console error, uncaught
exception, failed request or error answer it did not provoke itself, and on any JavaScript
dialog.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Response,
    ViewportSize,
    expect,
)

from local_runner.harness import RunnerProcess
from samples import heif
from tests.browser import pictures
from tests.browser.actions import choose_files, open_gallery, shown, upload_row
from tests.browser.conftest import ROOT, Watch

pytestmark = pytest.mark.slow  # starts the local runner

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BIG = "IMG_4032.jpg"  # above maxUploadBytes: a ticket and a presigned POST to the bucket
BADGE = "badge.png"  # transparent
HEIC = "IMG_0042.heic"
HOSTILE = "<img src=x onerror=alert(1)>.jpg"
WIDE: ViewportSize = {"width": 1440, "height": 900}
NARROW: ViewportSize = {"width": 360, "height": 780}


@pytest.fixture(scope="module")
def config(gallery: RunnerProcess) -> dict[str, Any]:
    answer = requests.get(f"{gallery.url}/config.json", timeout=10)
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture(scope="module")
def visitor(browser: Browser) -> Iterator[BrowserContext]:
    """This browser's profile: its localStorage keeps the delete tokens between the tests."""
    context = browser.new_context(viewport=WIDE)
    yield context
    context.close()


@pytest.fixture
def page(visitor: BrowserContext, watch: Watch) -> Iterator[Page]:
    opened = visitor.new_page()
    watch.attach(opened)
    yield opened
    opened.close()


def feed_names(page: Page) -> list[str]:
    return [
        str(name)
        for name in page.locator("#grid .tile-image.is-thumb").evaluate_all(
            "els => els.map(e => e.alt)"
        )
    ]


def throttle_uploads(page: Page, bytes_per_second: int) -> None:
    """Slow the page's uploads, as a phone's network is, so their progress can be seen."""
    session = page.context.new_cdp_session(page)
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now. Evaluated through
    the DevTools protocol, which the page's CSP does not govern."""
    page.evaluate(AXE.read_text())
    results = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])}x: {v['nodes'][0]['target']})"
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


def test_three_uploads_show_progress_then_their_thumbnails(
    page: Page, gallery: RunnerProcess, config: dict[str, Any], watch: Watch, output: Path
) -> None:
    big = pictures.jpeg(pictures.scenery(4032, 3024, 3, grain=100), quality=96)
    assert len(big) > config["maxUploadBytes"]
    files = [
        {"name": BIG, "mimeType": "image/jpeg", "buffer": big},
        {"name": BADGE, "mimeType": "image/png", "buffer": pictures.transparent_png()},
        # Chromium gives a HEIC file no type; the page declares it by its extension.
        {"name": HEIC, "mimeType": "", "buffer": heif.heic(pictures.scenery(1200, 900, 4))},
    ]
    posted_to: list[str] = []

    def posted(request: Request) -> None:
        if request.method == "POST":
            posted_to.append(request.url)

    page.on("request", posted)
    open_gallery(page, gallery)
    expect(page.get_by_role("heading", name="No photos yet")).to_be_visible()
    # Every value the progress bars show, as they show them.
    page.evaluate(
        """() => (window.__progress = []) && new MutationObserver((changes) => {
            for (const c of changes) if (c.target.tagName === 'PROGRESS')
              window.__progress.push([c.target.getAttribute('aria-label'), c.target.value]);
          }).observe(document.getElementById('upload-list'),
                     {subtree: true, attributes: true, attributeFilter: ['value']})"""
    )
    throttle_uploads(page, 8_000_000)

    choose_files(page, files)

    for name in (BIG, BADGE, HEIC):
        row = upload_row(page, name)
        expect(row).to_be_visible()
        # A placeholder at the top of the grid at once, before any thumbnail exists.
    expect(page.locator("#grid > li")).to_have_count(3)
    expect(page.get_by_role("progressbar", name=f"Upload of {BIG}")).to_be_visible()
    for name in (BIG, BADGE, HEIC):
        expect(upload_row(page, name).get_by_text("Ready", exact=True)).to_be_visible(
            timeout=30_000
        )
    for name in (BIG, BADGE, HEIC):
        thumbnail = page.get_by_role("img", name=name, exact=True).and_(page.locator(".is-thumb"))
        expect(thumbnail).to_be_visible()
        assert shown(thumbnail) > 0
    # The big photo went straight to the bucket, the two small ones through POST /upload.
    bucket_posts = [url for url in posted_to if url.startswith(gallery.moto_endpoint)]
    assert len(bucket_posts) == 1, posted_to
    assert posted_to.count(f"{gallery.url}/upload") == 2
    values = page.evaluate("() => window.__progress")
    big_values = [value for label, value in values if label == f"Upload of {BIG}"]
    assert any(0 < value < 100 for value in big_values), big_values
    assert big_values[-1] == 100
    # Chromium cannot decode HEIC: its row waited for the service's thumbnail, no preview.
    heic_thumb = upload_row(page, HEIC).locator(".upload-thumb img")
    expect(heic_thumb).to_have_attribute("src", re.compile(r"/download-thumbnail/.+\.heic\?"))
    page.screenshot(path=str(output / "uploads-1440.png"))
    watch.check()


def test_the_grid_takes_square_webp_thumbnails_lazily_at_their_size(
    page: Page, gallery: RunnerProcess, watch: Watch
) -> None:
    thumbnail_types: list[str] = []

    def answered(response: Response) -> None:
        if "/download-thumbnail/" in response.url:
            thumbnail_types.append(response.headers["content-type"])

    page.on("response", answered)
    open_gallery(page, gallery)
    images = page.locator("#grid .is-thumb")
    expect(images).to_have_count(3)
    for index in range(3):
        image = images.nth(index)
        natural = shown(image)
        assert image.get_attribute("loading") == "lazy"
        assert "size=square&format=webp" in image.evaluate("img => img.currentSrc")
        box = image.bounding_box()
        assert box is not None
        # The rendition is no smaller than its tile and at most twice it (a 2x screen's fill).
        assert box["width"] <= natural <= 2 * box["width"], (natural, box)
    assert thumbnail_types, "no thumbnail was fetched"
    assert set(thumbnail_types) == {"image/webp"}, thumbnail_types
    watch.check()


def test_the_viewer_opens_the_original_and_moves_with_the_keyboard(
    page: Page, gallery: RunnerProcess, watch: Watch, output: Path
) -> None:
    open_gallery(page, gallery)
    expect(page.locator("#grid .is-thumb")).to_have_count(3)
    order = feed_names(page)
    assert sorted(order) == sorted([BIG, BADGE, HEIC])
    page.get_by_role("button", name=order[0]).click()
    viewer = page.get_by_role("dialog", name=order[0])
    expect(viewer).to_be_visible()
    expect(viewer.get_by_text("1 of 3")).to_be_visible()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("dialog", name=order[1])).to_be_visible()
    page.keyboard.press("ArrowRight")
    viewer = page.get_by_role("dialog", name=order[2])
    expect(viewer).to_be_visible()
    page.keyboard.press("ArrowRight")  # the last photo: stays
    expect(viewer).to_be_visible()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    viewer = page.get_by_role("dialog", name=order[0])
    expect(viewer).to_be_visible()
    # Move to the big photo: its facts, and the original itself (a 307 to the bucket).
    for _ in range(order.index(BIG)):
        page.keyboard.press("ArrowRight")
    viewer = page.get_by_role("dialog", name=BIG)
    expect(viewer.get_by_text("4032 \N{MULTIPLICATION SIGN} 3024 px")).to_be_visible()
    expect(viewer.get_by_text("JPEG", exact=True)).to_be_visible()
    assert shown(viewer.get_by_role("img", name=BIG)) == 4032
    expect(viewer.get_by_role("link", name="Open original")).to_have_attribute(
        "href", re.compile(r"^/download/\w+\.jpg$")
    )
    page.screenshot(path=str(output / "viewer-1440.png"))
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    # Focus is back on the photo the viewer showed last.
    expect(page.get_by_role("button", name=BIG)).to_be_focused()
    # HEIC, which Chromium cannot show: a preview from the renditions, said in words.
    page.get_by_role("button", name=HEIC).click()
    viewer = page.get_by_role("dialog", name=HEIC)
    expect(viewer.get_by_text("This browser cannot show HEIC photos")).to_be_visible()
    assert shown(viewer.get_by_role("img", name=HEIC)) > 0
    page.keyboard.press("Escape")
    watch.check()


def test_a_reload_shows_the_same_feed(page: Page, gallery: RunnerProcess, watch: Watch) -> None:
    open_gallery(page, gallery)
    expect(page.locator("#grid .is-thumb")).to_have_count(3)
    before = feed_names(page)
    page.reload()
    expect(page.locator("#grid .is-thumb")).to_have_count(3)
    assert feed_names(page) == before
    watch.check()


def test_a_photo_from_this_browser_can_be_deleted_and_stays_gone(
    page: Page, gallery: RunnerProcess, watch: Watch
) -> None:
    open_gallery(page, gallery)
    page.get_by_role("button", name=BADGE).click()
    page.get_by_role("dialog", name=BADGE).get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete this photo?")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog", name=BADGE)).to_be_visible()  # nothing deleted
    page.get_by_role("dialog", name=BADGE).get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete this photo?").get_by_role(
        "button", name="Delete photo"
    ).click()
    expect(page.get_by_role("status").filter(has_text="was deleted")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("img", name=BADGE)).to_have_count(0)
    page.reload()
    expect(page.locator("#grid .is-thumb")).to_have_count(2)
    assert BADGE not in feed_names(page)
    watch.check()


def test_a_file_name_with_markup_is_shown_as_text(
    page: Page, gallery: RunnerProcess, watch: Watch
) -> None:
    open_gallery(page, gallery)
    choose_files(
        page,
        [
            {
                "name": HOSTILE,
                "mimeType": "image/jpeg",
                "buffer": pictures.jpeg(pictures.scenery(800, 600, 5)),
            }
        ],
    )
    expect(upload_row(page, HOSTILE).get_by_text("Ready", exact=True)).to_be_visible(timeout=30_000)
    expect(
        page.get_by_role("img", name=HOSTILE, exact=True).and_(page.locator(".is-thumb"))
    ).to_be_visible()
    page.get_by_role("button", name=HOSTILE).click()
    expect(page.get_by_role("heading", name=HOSTILE, exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    # No element was made from the name, and nothing ran: no dialog, no request for "x".
    assert page.locator('img[src="x"]').count() == 0
    page.wait_for_load_state("networkidle")
    watch.check()


def test_refused_files_say_why_and_the_page_keeps_working(
    page: Page, gallery: RunnerProcess, config: dict[str, Any], watch: Watch, tmp_path: Path
) -> None:
    # A file over maxDirectUploadBytes: refused by POST /uploads before a byte is sent.
    oversized = tmp_path / "panorama.jpg"
    with oversized.open("wb") as out:
        out.write(pictures.jpeg(pictures.scenery(64, 48, 1)))
        out.truncate(config["maxDirectUploadBytes"] + 1)
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping: milk, eggs\n")
    watch.expected.append("/upload")  # the 413 of POST /uploads and the 415 of POST /upload
    open_gallery(page, gallery)
    choose_files(page, [str(oversized), str(notes)])
    expect(
        upload_row(page, "panorama.jpg").get_by_text(
            "This file is too large: photos can be up to 50 MB."
        )
    ).to_be_visible()
    expect(
        upload_row(page, "notes.txt").get_by_text("This is not a photo the gallery takes")
    ).to_be_visible()
    # Neither left a placeholder behind, and the feed is as it was.
    expect(page.locator("#grid > li")).to_have_count(3)
    expect(page.locator("#grid .is-thumb")).to_have_count(3)
    watch.check()


def test_a_busy_service_and_going_offline_are_said_in_words(
    page: Page, gallery: RunnerProcess, watch: Watch
) -> None:
    busy = {"left": 1}

    def answer_busy_once(route: Any) -> None:
        if busy["left"]:
            busy["left"] -= 1
            route.fulfill(
                status=503,
                headers={
                    "Retry-After": "1",
                    "Content-Type": "application/json",
                    "Cache-Control": "no-store",
                },
                body=json.dumps({"error": {"code": "ServiceUnavailable", "message": "Try again."}}),
            )
        else:
            route.continue_()

    watch.expected.append("/upload")  # the 503 this test answers in the service's place
    page.route(f"{gallery.url}/upload", answer_busy_once)
    open_gallery(page, gallery)
    choose_files(
        page,
        [
            {
                "name": "dune.jpg",
                "mimeType": "image/jpeg",
                "buffer": pictures.jpeg(pictures.scenery(800, 600, 6)),
            }
        ],
    )
    row = upload_row(page, "dune.jpg")
    expect(row.get_by_text("The service is busy. Trying again in 1 s.")).to_be_visible()
    expect(row.get_by_text("Ready", exact=True)).to_be_visible(timeout=30_000)

    page.context.set_offline(True)
    expect(page.get_by_role("status").filter(has_text="You are offline")).to_be_visible()
    page.context.set_offline(False)
    expect(page.get_by_role("status").filter(has_text="Back online")).to_be_visible()
    watch.check()


def test_no_serious_accessibility_findings_and_screenshots_at_both_widths(
    page: Page, gallery: RunnerProcess, watch: Watch, output: Path
) -> None:
    open_gallery(page, gallery)
    expect(page.locator("#grid .is-thumb")).to_have_count(4)
    assert axe_violations(page) == []
    page.get_by_role("button", name=BIG).click()
    expect(page.get_by_role("dialog", name=BIG)).to_be_visible()
    assert axe_violations(page) == []
    page.keyboard.press("Escape")
    page.screenshot(path=str(output / "gallery-1440.png"))
    # Keyboard focus is visible: an outline on whatever Tab reaches, photos included.
    page.reload()
    expect(page.locator("#grid .is-thumb")).to_have_count(4)
    for expected in ("Photos", "Upload photos", *feed_names(page)):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => [document.activeElement.textContent.trim() ||"
            " document.activeElement.querySelector('img.is-thumb')?.alt,"
            " getComputedStyle(document.activeElement).outlineStyle]"
        )
        assert focused == [expected, "solid"]
    page.set_viewport_size(NARROW)
    expect(page.locator("#grid .is-thumb").first).to_be_visible()
    # Nothing wider than the screen at 360 px.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
    page.screenshot(path=str(output / "gallery-360.png"), full_page=True)
    page.get_by_role("button", name=BIG).click()
    shown(page.get_by_role("dialog", name=BIG).get_by_role("img", name=BIG))
    page.screenshot(path=str(output / "viewer-360.png"))
    watch.check()


def test_time_to_the_first_thumbnail(
    page: Page,
    gallery: RunnerProcess,
    watch: Watch,
    output: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A figure, not a limit: from navigation to the first thumbnail shown, on this machine."""
    started = time.monotonic()
    page.goto(f"{gallery.url}/")
    page.wait_for_function(
        "() => performance.getEntriesByName('gallery:first-thumbnail').length > 0"
    )
    first = page.evaluate(
        "() => performance.getEntriesByName('gallery:first-thumbnail')[0].startTime"
    )
    weight = sum(path.stat().st_size for path in (ROOT / "web").rglob("*") if path.is_file())
    figures = {
        "first_thumbnail_ms": round(first),
        "page_bytes": weight,
        "wall_s": round(time.monotonic() - started, 2),
    }
    (output / "figures.json").write_text(json.dumps(figures, indent=1))
    with capsys.disabled():
        print(
            f"\n  gallery: first thumbnail {first:.0f} ms after navigation;"
            f" page files {weight / 1000:.1f} kB"
        )
    watch.check()
