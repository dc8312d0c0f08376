"""`make local` serves the gallery page at `/`, from the files the stack deploys."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from local_runner.harness import RunnerProcess, object_keys

pytestmark = pytest.mark.slow  # drives the local runner

WEB = Path(__file__).resolve().parents[2] / "web"


def test_the_gallery_is_served_at_the_root_with_the_sites_headers(service: RunnerProcess) -> None:
    page = requests.get(f"{service.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html"
    assert page.content == (WEB / "index.html").read_bytes()
    assert page.headers["Cache-Control"] == "public, max-age=0, must-revalidate, s-maxage=86400"
    csp = page.headers["Content-Security-Policy"]
    # The browser posts direct uploads to the local bucket: the policy lets it, and only it.
    assert f"connect-src 'self' {service.moto_endpoint};" in csp
    again = requests.get(
        f"{service.url}/", headers={"If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    config = requests.get(f"{service.url}/config.json", timeout=10).json()
    assert (config["stage"], config["apiKeyRequired"]) == ("dev", False)
    # API routes are the API's, as the distribution routes them.
    assert isinstance(requests.get(f"{service.url}/images", timeout=10).json()["items"], list)


def test_the_site_bucket_holds_what_the_deployment_writes(service: RunnerProcess) -> None:
    bucket = service.resource("buckets", "DeliverySite")
    keys = object_keys(service.client("s3"), bucket)
    assert "index.html" in keys
    assert "config.json" in keys
    assert {"js/main.js", "css/gallery.css"} <= set(keys)


def test_the_banner_names_the_gallery_first(service: RunnerProcess) -> None:
    banner = service.log_text().split("Stack ", 1)[0]
    assert f"Gallery: {service.url}/" in banner
