"""The distribution's CloudFront Functions, run by Node.js on the events CloudFront hands them.

Each file is evaluated alone in a fresh context (as CloudFront runs it: no modules, no
globals but the event) and its `handler` called with each event.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGE = ROOT / "stacks" / "edge"
# CloudFront Functions: at most 10 KB of code.
MAX_CODE_BYTES = 10_240

RUN = """
const vm = require("vm");
const fs = require("fs");
const [file, events] = [process.argv[1], JSON.parse(process.argv[2])];
const code = fs.readFileSync(file, "utf8");
const results = events.map((event) => vm.runInNewContext(code + "\\nhandler(event);", { event }));
console.log(JSON.stringify(results));
"""


def node() -> str:
    local = ROOT / "node_modules" / ".bin" / "node"
    found = str(local) if local.exists() else shutil.which("node")
    assert found, "Node.js is needed (make setup installs it with the CDK CLI)"
    return found


def run(name: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [node(), "-e", RUN, str(EDGE / name), json.dumps(events)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def request_with(accept: str | None) -> dict[str, Any]:
    headers = {} if accept is None else {"accept": {"value": accept}}
    return {"version": "1.0", "request": {"method": "GET", "uri": "/x", "headers": headers}}


ACCEPTS = {
    # A browser that takes WebP, in the ways browsers say so.
    "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8": "image/webp",
    "image/webp,*/*": "image/webp",
    "IMAGE/WEBP ; q=0.5": "image/webp",
    "image/webp;q=1.0": "image/webp",
    # Anything else: no Accept at all, so the service serves its default.
    "image/webp;q=0": None,
    "image/webp; q=0.000": None,
    "image/*,*/*;q=0.8": None,
    "*/*": None,
    "image/jpeg": None,
    "": None,
}


@pytest.mark.parametrize("accept", [*ACCEPTS, None])
def test_thumbnail_requests_keep_only_whether_the_viewer_takes_webp(accept: str | None) -> None:
    (request,) = run("thumbnail_request.js", [request_with(accept)])
    expected = ACCEPTS.get(accept) if accept is not None else None
    if expected is None:
        assert "accept" not in request["headers"]
    else:
        assert request["headers"]["accept"] == {"value": expected}
    # Nothing else of the request changes.
    assert (request["method"], request["uri"]) == ("GET", "/x")


CACHE_CONTROLS = {
    "public, max-age=31536000, immutable": "private, max-age=31536000, immutable",
    "public, max-age=10": "private, max-age=10",
    "max-age=10, Public": "max-age=10, private",
    "no-store": "no-store",
    "private, max-age=31536000, immutable": "private, max-age=31536000, immutable",
    # Not the directive itself.
    "publicity": "publicity",
}


@pytest.mark.parametrize("cache_control", list(CACHE_CONTROLS))
def test_responses_past_the_edge_are_private(cache_control: str) -> None:
    event = {
        "version": "1.0",
        "request": {"method": "GET", "uri": "/x", "headers": {}},
        "response": {
            "statusCode": 200,
            "headers": {
                "cache-control": {"value": cache_control},
                "etag": {"value": '"abc"'},
            },
        },
    }
    (response,) = run("private_response.js", [event])
    assert response["headers"]["cache-control"] == {"value": CACHE_CONTROLS[cache_control]}
    assert response["headers"]["etag"] == {"value": '"abc"'}
    assert response["statusCode"] == 200


def test_a_response_without_cache_control_is_left_alone() -> None:
    event = {"version": "1.0", "response": {"statusCode": 403, "headers": {}}}
    (response,) = run("private_response.js", [event])
    assert response == {"statusCode": 403, "headers": {}}


def test_the_functions_fit_cloudfronts_size_limit() -> None:
    for path in EDGE.glob("*.js"):
        assert len(path.read_bytes()) < MAX_CODE_BYTES, path.name
