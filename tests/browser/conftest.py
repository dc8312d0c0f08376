"""The gallery in a real browser: Debian's Chromium driven by Playwright, against the local
runner serving the dev stage (`make local`).

Playwright's own browser download is not used (nor reachable everywhere): the tests drive the
system's Chromium (`apt-get install chromium`, which `make test` does where it can). Without it
they are skipped with a loud message, except under `CI=true`, where a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

from local_runner import harness
from tests.local_runner.assemblies import synthesized

ROOT = Path(__file__).resolve().parents[2]
# Screenshots and figures of the last run, kept out of the repository (.gitignore).
OUTPUT = ROOT / "test-results" / "browser"
CHROMIUM_ENV = "CHROMIUM"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# The network here is closed except loopback, and nothing may phone home: every background
# service of the browser is off. No sandbox: the tests run as root in CI.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
MISSING = (
    "\n\n!!! BROWSER TESTS {what}: no Chromium at {where}. `make test` installs Debian's "
    "chromium where it can (root and apt-get); otherwise `apt-get install chromium`, or set "
    "CHROMIUM=/path/to/chromium. Under CI=true a missing browser is a failure. !!!\n"
)
_skipped: list[str] = []


def chromium_path() -> str | None:
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    found = chromium_path()
    if found is None:
        message = MISSING.format(
            where=os.environ.get(CHROMIUM_ENV) or ", ".join(CHROMIUM_CANDIDATES)
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        _skipped.append(message)
        pytest.skip(message)
    return found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        terminalreporter.write_line(_skipped[0], red=True, bold=True)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def gallery(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[harness.RunnerProcess]:
    """The dev stage as `make local` serves it, for this module alone (its feed starts empty)."""
    (assembly,) = synthesized("dev")
    log = tmp_path_factory.mktemp("gallery-runner") / "runner.log"
    with harness.start("--assembly", str(assembly), log=log) as runner:
        yield runner
        assert runner.stop() == 0, runner.log_text()[-3000:]


@pytest.fixture(scope="session")
def output() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@dataclass
class Watch:
    """What went wrong in the page: console errors, uncaught exceptions, failed requests and
    answers >= 400, minus what a test expects (its `expected` URL fragments)."""

    problems: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("dialog", self._dialog)

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self._bad(f"{response.status} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            where = message.location.get("url", "")
            self._bad(f"console {message.type}: {message.text} ({where})")

    def _failed(self, request: Request) -> None:
        # A picture the page stopped loading because the person moved on (the viewer shows
        # the next photo) is cancelled, not failed.
        if request.resource_type == "image" and request.failure == "net::ERR_ABORTED":
            return
        self._bad(f"request failed: {request.method} {request.url} {request.failure}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _bad(self, problem: str) -> None:
        # A response the test provokes also shows in the console ("Failed to load resource:
        # the server responded with a status of 413") without naming its URL.
        if any(fragment in problem for fragment in self.expected):
            return
        self.problems.append(problem)

    def check(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.problems == [], "\n".join(self.problems)


@pytest.fixture
def watch() -> Watch:
    return Watch()
