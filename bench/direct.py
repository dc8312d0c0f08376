"""Direct uploads: upload-to-ready through the local runner by each route, and the worker's
memory and time to ingest a 48 MP photo against its decode.

    python -m bench.direct [rounds]      (prints JSON; `make bench` writes the tables)

Upload-to-ready is from the first request (`POST /upload`, or `POST /uploads` for the ticket)
to the record answering `ready` on `GET /images/{id}`, polled every 50 ms. Runner, emulator
and clients share this machine's cores, one upload at a time.
"""

from __future__ import annotations

import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from local_runner import harness
from samples import images

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.05


def _ready(base: str, status: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        record = requests.get(f"{base}{status}", timeout=30).json()
        if record["status"] == "ready":
            return
        if record["status"] in ("failed", "rejected"):
            raise RuntimeError(f"ended {record['status']}: {record['error']}")
        time.sleep(POLL_SECONDS)
    raise RuntimeError("not ready within 300 s")


def upload_inline(base: str, data: bytes) -> float:
    started = time.perf_counter()
    response = requests.post(
        f"{base}/upload", data=data, headers={"Content-Type": "image/jpeg"}, timeout=120
    )
    response.raise_for_status()
    _ready(base, response.json()["links"]["status"])
    return (time.perf_counter() - started) * 1000


def upload_direct(base: str, data: bytes) -> float:
    started = time.perf_counter()
    ticket = requests.post(
        f"{base}/uploads",
        json={"filename": "bench.jpg", "content_type": "image/jpeg", "size": len(data)},
        timeout=30,
    ).json()
    stored = requests.post(
        ticket["upload"]["url"],
        data=ticket["upload"]["fields"],
        files={"file": ("bench.jpg", data, "image/jpeg")},
        timeout=300,
    )
    stored.raise_for_status()
    _ready(base, ticket["links"]["status"])
    return (time.perf_counter() - started) * 1000


def measure_routes(rounds: int) -> dict[str, dict[str, float]]:
    """p50/p95 upload-to-ready of a 4 MB photo by both routes and a 20 MB one directly."""
    four = images.jpeg(2900, 2175, quality=97)  # 4.0 MB: under POST /upload's 4.5 MB
    twenty = images.jpeg(8000, 6000, quality=92)
    cases = [
        (f"{len(four) / 1e6:.1f} MB, 6 MP, POST /upload", upload_inline, four),
        (f"{len(four) / 1e6:.1f} MB, 6 MP, POST /uploads", upload_direct, four),
        (f"{len(twenty) / 1e6:.1f} MB, 48 MP, POST /uploads", upload_direct, twenty),
    ]
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "runner.log"
        with harness.start("--stage", "dev", log=log) as runner:
            for _, send, data in cases:  # warm every function once
                send(runner.url, data)
            samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
            for _ in range(rounds):  # interleaved: machine load hits every case alike
                for label, send, data in cases:
                    samples[label].append(send(runner.url, data))
    return {
        label: {
            "p50": statistics.median(values),
            "p95": sorted(values)[min(len(values) - 1, round(0.95 * (len(values) - 1)))],
            "n": len(values),
        }
        for label, values in samples.items()
    }


# Runs in a fresh interpreter per measurement, so peak RSS (VmHWM) is that work's alone.
_CHILD = """
import json, sys, time, resource
from io import BytesIO
sys.path[:0] = [sys.argv[3]]
from PIL import Image
from image_service import imaging
from image_service.contract import Rendition
data = open(sys.argv[2], "rb").read()
renditions = [Rendition("thumb", 256, 256, "contain"), Rendition("square", 320, 320, "cover")]
c = time.process_time()
if sys.argv[1] == "decode":
    Image.open(BytesIO(data)).load()
elif sys.argv[1] == "draft":
    im = Image.open(BytesIO(data)); im.draft("RGB", (im.width // 8, im.height // 8)); im.load()
else:
    imaging.ingest(data, renditions, max_pixels=100_000_000, webp=True)
ms = (time.process_time() - c) * 1000
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"ms": ms, "rss_mb": hwm / 1024}))
"""


def worst_case(size: int = 50_000_000) -> bytes:
    """The most memory a direct upload can make the worker hold: the decode that needs the
    most memory per byte on the wire (a 50 MP WebP with alpha, about 1 MB) padded with an
    unknown RIFF chunk, which decoders skip, to the largest body a ticket allows."""
    from bench import inputs  # numpy: only `make bench` installs it

    webp = inputs.webp_rgba_50mp()
    pad = size - len(webp) - 8
    body = webp[12:] + b"JUNK" + struct.pack("<I", pad) + bytes(pad)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def measure_ingest(rounds: int) -> dict[str, dict[str, float]]:
    """The worker's ingest (validate and render from one decode) of a 48 MP JPEG against a
    full decode and the 1/8 draft decode the engine uses, and of the worst case for memory;
    CPU ms and peak RSS."""
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as work:
        photos = {
            "48 MP JPEG q92": images.jpeg(8000, 6000, quality=92),
            "48 MP JPEG q100": images.jpeg(8000, 6000, quality=100),
            "50 MP WebP with alpha, padded": worst_case(),
        }
        for label, data in photos.items():
            path = Path(work) / "photo.jpg"
            path.write_bytes(data)
            key = f"{label} ({len(data) / 1e6:.0f} MB)"
            for _ in range(rounds):
                for what in ("decode", "draft", "ingest"):
                    done = subprocess.run(
                        [sys.executable, "-c", _CHILD, what, str(path), str(ROOT / "lambda_src")],
                        capture_output=True,
                        text=True,
                        check=True,
                        timeout=300,
                    )
                    figures = json.loads(done.stdout)
                    for name, value in figures.items():
                        results.setdefault(key, {}).setdefault(f"{what}_{name}", []).append(value)
    return {
        label: {name: statistics.median(values) for name, values in figures.items()}
        for label, figures in results.items()
    }


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(json.dumps({"ingest": measure_ingest(3), "routes": measure_routes(rounds)}, indent=1))
