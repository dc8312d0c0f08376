"""What a person does on the gallery page, and what they wait for, as Playwright steps."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from local_runner.harness import RunnerProcess


def open_gallery(page: Page, gallery: RunnerProcess) -> None:
    page.goto(f"{gallery.url}/")
    expect(page.get_by_role("heading", name="Latest photos")).to_be_visible()


def choose_files(page: Page, files: list[Any]) -> None:
    """What a person does: the Upload button, then the files in the system's picker."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload photos").click()
    chooser.value.set_files(files)


def upload_row(page: Page, name: str) -> Any:
    return page.locator("#upload-list > li").filter(has=page.get_by_text(name, exact=True))


def shown(image: Any) -> int:
    """Wait until the <img> has decoded a picture; its natural width."""
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    return int(image.evaluate("img => img.naturalWidth"))
