"""Hostile names on the download routes, over HTTP through the local runner.

The handler-level tests (tests/functions/test_downloads.py) prove no S3 call is made for a
bad name; here the same names and more arrive as raw request paths, through API Gateway's
routing: each gets 400 InvalidName from the function, or the gateway's own 404/403 when the
path does not match the route at all. Never a 200, never a 5xx.
"""

from __future__ import annotations

import http.client
import json

import pytest

from local_runner.harness import RunnerProcess

pytestmark = pytest.mark.slow  # drives the local runner

ID = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB"
OUTSIDE_ALLOW_LIST = [
    "jpeg", "JPG", "Jpg", "png ", "bmp", "tif", "tiff", "svg", "svgz", "html", "htm", "xml",
    "js", "php", "exe", "pdf", "psd", "eps", "ico", "heif", "HEIC", "avifs", "jxl", "json", "txt",
    "jpg.html", "jpg%00.html", "jpg;.html", "",
]  # fmt: skip
NAMES = {
    "dot-dot-slash": f"../{ID}.jpg",
    "encoded-dot-dot-slash": f"..%2F{ID}.jpg",
    "encoded-dots": f"%2e%2e%2f{ID}.jpg",
    "double-encoded": f"%252e%252e%252f{ID}.jpg",
    "absolute-path-encoded": "%2Fetc%2Fpasswd",
    "backslash": f"..%5C{ID}.jpg",
    "nul": f"{ID}%00.jpg",
    "cyrillic-a": f"{ID[:-1]}%D0%90.jpg",
    "fullwidth-zero": f"%EF%BC%90{ID[1:]}.jpg",
    "overlong": "A" * 4000 + ".jpg",
    "originals-prefix": f"originals%2F{ID}.jpg",
    "failed-marker": f"_failed%2F{ID}.jpg",
    **{f"ext-{e or 'none'}": f"{ID}.{e}".replace(" ", "%20") for e in OUTSIDE_ALLOW_LIST},
}


def get(service: RunnerProcess, path: str) -> tuple[int, bytes]:
    host, port = service.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path)  # sent as is: no normalisation of dots or escapes
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("route", ["download", "download-thumbnail"])
def test_hostile_names_are_refused(service: RunnerProcess, route: str) -> None:
    wrong = {}
    for label, name in NAMES.items():
        status, body = get(service, f"/{route}/{name}")
        payload = json.loads(body)
        code = payload.get("error", {}).get("code") if "error" in payload else payload
        if (status, code) != (400, "InvalidName") and status not in (403, 404):
            wrong[label] = (status, code)
        if status == 404 and code == "NotFound":
            wrong[label] = (status, "reached storage")
    assert wrong == {}
    assert service.alive()


@pytest.mark.parametrize(
    "path",
    ["/download/../upload", "/download/%2e%2e/upload", "/download//etc/passwd", "/download/a/b"],
)
def test_paths_that_leave_the_route_never_reach_a_function(
    service: RunnerProcess, path: str
) -> None:
    status, body = get(service, path)
    assert status in (400, 403, 404, 405)
    assert b"originals/" not in body
