"""python -m image_client upload PHOTO [--url URL] [--api-key KEY] [--no-wait]

Uploads one image the way its size calls for: `POST /upload` with the bytes when they fit
through API Gateway and Lambda (`--max-inline`, 4,500,000 bytes by default, the stage's
`maxUploadBytes`), otherwise a ticket from `POST /uploads` and the bytes posted straight to
S3 with it. Shows the bytes sent, then waits for the image to be `ready` (polling
`GET /images/{id}` with backoff), and prints its record as JSON, delete token included.
Exits 0 when it is ready, 1 when it was refused, failed, or the wait ran out.

    python -m image_client upload IMG_0042.heic
    export IMAGE_SERVICE_URL=https://<api>/prod IMAGE_SERVICE_API_KEY=<key>
    python -m image_client upload a.jpg
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:3000"
MAX_INLINE_BYTES = 4_500_000
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
}
FINAL = {"ready", "failed", "rejected"}


class Failed(Exception):
    pass


class Progress:
    """Bytes sent so far, as a bar on stderr (only on a terminal)."""

    def __init__(self, total: int, label: str, stream: IO[str] = sys.stderr) -> None:
        self.total, self.label, self.stream = total, label, stream
        self.sent = 0
        self.shown = -1
        self.live = stream.isatty()

    def advance(self, count: int) -> None:
        self.sent += count
        percent = 100 * self.sent // max(self.total, 1)
        if self.live and percent != self.shown:
            bar = "#" * (percent // 4)
            self.stream.write(f"\r{self.label} [{bar:<25}] {percent:3d}% of {self.total:,} bytes")
            self.stream.flush()
            self.shown = percent

    def done(self) -> None:
        if self.live:
            self.stream.write("\n")


class Counting:
    """A request body that reports how much of it was read (sent)."""

    def __init__(self, data: bytes, progress: Progress) -> None:
        self.data = data
        self.position = 0
        self.progress = progress

    def __len__(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else min(len(self.data), self.position + size)
        chunk = self.data[self.position : end]
        self.position = end
        self.progress.advance(len(chunk))
        return chunk


def _check(response: requests.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:300]
        raise Failed(f"{what} answered {response.status_code} ({detail})")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def upload(
    session: requests.Session,
    url: str,
    path: Path,
    *,
    max_inline: int,
    progress: Callable[[int, str], Progress] = Progress,
) -> dict[str, Any]:
    """Upload `path` by the route its size calls for; the service's answer (the record)."""
    data = path.read_bytes()
    content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    if len(data) <= max_inline:
        bar = progress(len(data), "upload")
        body = Counting(data, bar)
        response = session.post(
            f"{url}/upload",
            data=body,
            headers={
                "Content-Type": content_type,
                "X-Filename": quote(path.name),
                "Content-Length": str(len(body)),
            },
            timeout=120,
        )
        bar.done()
        return _check(response, "POST /upload")
    ticket = _check(
        session.post(
            f"{url}/uploads",
            json={"filename": path.name, "content_type": content_type, "size": len(data)},
            timeout=30,
        ),
        "POST /uploads",
    )
    # The policy's fields, then the file (requests writes them in that order; S3 ignores
    # whatever follows the file).
    form = requests.Request(
        "POST",
        ticket["upload"]["url"],
        data=ticket["upload"]["fields"],
        files={"file": (path.name, data, content_type)},
    ).prepare()
    if not isinstance(form.body, bytes):  # files= always makes a bytes body
        raise Failed("could not build the upload form")
    bar = progress(len(form.body), "upload to S3")
    body = Counting(form.body, bar)
    # The presigned POST carries its own credentials: no API key goes to S3.
    stored = requests.post(
        ticket["upload"]["url"],
        data=body,
        headers={"Content-Type": form.headers["Content-Type"], "Content-Length": str(len(body))},
        timeout=600,
    )
    bar.done()
    if stored.status_code >= 300:
        raise Failed(f"S3 refused the upload ({stored.status_code}): {stored.text[:300]}")
    return ticket


def wait(
    session: requests.Session, url: str, image: dict[str, Any], deadline_s: float
) -> dict[str, Any]:
    """Poll the image's record, with backoff, until its status is final or the time is up."""
    status_url = f"{url}{image['links']['status']}"
    delay, deadline = 0.25, time.monotonic() + deadline_s
    record = image
    while record.get("status") not in FINAL and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 1.5, 3.0)
        record = _check(session.get(status_url, timeout=30), f"GET {image['links']['status']}")
        sys.stderr.write(f"\rstatus: {record['status']:<10}")
        sys.stderr.flush()
    sys.stderr.write("\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m image_client", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("upload", help="upload one image and wait until it is ready")
    put.add_argument("path", type=Path)
    put.add_argument("--url", default=os.environ.get("IMAGE_SERVICE_URL", DEFAULT_URL))
    put.add_argument("--api-key", default=os.environ.get("IMAGE_SERVICE_API_KEY"))
    put.add_argument("--max-inline", type=int, default=MAX_INLINE_BYTES)
    put.add_argument("--no-wait", dest="wait", action="store_false")
    put.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for ready")
    args = parser.parse_args(argv)

    url = args.url.rstrip("/")
    session = requests.Session()
    if args.api_key:
        session.headers["x-api-key"] = args.api_key
    try:
        image = upload(session, url, args.path, max_inline=args.max_inline)
        token = image["delete_token"]
        record = wait(session, url, image, args.timeout) if args.wait else image
    except (Failed, OSError, requests.RequestException) as error:
        print(f"image_client: {error}", file=sys.stderr)
        return 1
    print(json.dumps({**record, "delete_token": token}, indent=1))
    if args.wait and record.get("status") != "ready":
        print(
            f"image_client: the image is {record.get('status')}: {record.get('error')}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
