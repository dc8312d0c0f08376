"""A bounded load run against a local runner: N uploads from C concurrent clients, mixed with
feed pages, look-ups and deletions (one upload in five is deleted by its uploader: half at
once, racing its thumbnail job, half once it is ready). Then it waits (with a deadline) for
every kept image to be ready and the queue and DLQ to be empty, and checks what is left:
every kept image has its record, original and thumbnails, and nothing at all of a deleted
one remains, in the table or the bucket.

Only ever talks to 127.0.0.1 (the runner and its emulator). Run by `make load` (500 uploads,
20 clients) and, as `python -m loadtest`, by a small test in `make test` (40 uploads, 8 clients).
"""

from __future__ import annotations

import io
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from PIL import Image

from local_runner.harness import RunnerProcess, object_keys, poll, queue_depth
from samples import images

RENDITIONS = ("thumb", "square")
# Logical ids in the stack's template (CDK appends a hash).
IMAGES_BUCKET = "StorageImages"
CATALOGUE_TABLE = "CatalogueTable"
JOB_QUEUE = "ProcessingQueue"
DEAD_LETTER_QUEUE = "ProcessingDeadLetterQueue"
WATCH_EVERY_S = 0.1  # thumbnail-ready times are known to this resolution
# Of every ten uploads, the uploader deletes these: at once (before or while its thumbnails
# are made), and after it became ready.
DELETE_AT_ONCE, DELETE_WHEN_READY = 3, 7
READY_WAIT_S = 120.0


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def mixed_inputs() -> list[tuple[str, bytes, str]]:
    """(label, bytes, content type) from ~20 kB to ~3 MB, in the four accepted formats."""
    large = images.photo(2600, 1950, seed=3)
    return [
        ("jpeg-320x240", images.jpeg(320, 240), "image/jpeg"),
        ("jpeg-1600x1200", images.jpeg(1600, 1200), "image/jpeg"),
        ("jpeg-2600x1950-q97", _encode(large, "JPEG", quality=97), "image/jpeg"),
        ("png-640x480", images.png(640, 480), "image/png"),
        ("gif-animated", images.animated_gif(), "image/gif"),
        ("webp-1024x768", images.webp(1024, 768), "image/webp"),
        ("jpeg-exif-rotated", images.exif_rotated_jpeg(1200, 800), "image/jpeg"),
        ("png-alpha-800x600", images.png_alpha(800, 600), "image/png"),
    ]


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else []

    def pct(p: int) -> float:
        return ordered[0] if not cuts else cuts[p - 1]

    return {
        "p50": round(pct(50), 3),
        "p90": round(pct(90), 3),
        "p99": round(pct(99), 3),
        "max": round(ordered[-1], 3),
    }


@dataclass
class Report:
    uploads: int
    clients: int
    statuses: dict[int, int] = field(default_factory=dict)  # of the uploads
    other_statuses: dict[str, dict[int, int]] = field(default_factory=dict)  # feed, get, delete
    deleted: int = 0
    leftovers: list[str] = field(default_factory=list)  # what breaks the end state, if anything
    upload_s: list[float] = field(default_factory=list)
    ready_s: list[float] = field(default_factory=list)
    missing_thumbnails: list[str] = field(default_factory=list)
    final_depths: tuple[int, int] = (-1, -1)
    runner_exit_status: int | None = None  # 0: the runner stopped cleanly afterwards
    wall_s: float = 0.0
    bytes_sent: int = 0
    inputs: dict[str, int] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        answers = [self.statuses, *self.other_statuses.values()]
        return sum(n for counts in answers for status, n in counts.items() if status >= 500)

    def summary(self) -> dict[str, Any]:
        return {
            "uploads": self.uploads,
            "clients": self.clients,
            "statuses": dict(sorted(self.statuses.items())),
            "other_statuses": {
                route: dict(sorted(counts.items()))
                for route, counts in sorted(self.other_statuses.items())
            },
            "server_errors": self.server_errors,
            "deleted": self.deleted,
            "end_state_violations": self.leftovers,
            "upload_latency_s": percentiles(self.upload_s),
            "upload_to_thumbnails_ready_s": percentiles(self.ready_s),
            "thumbnails_ready": len(self.ready_s),
            "thumbnails_missing": len(self.missing_thumbnails),
            "final_queue_and_dlq_depth": list(self.final_depths),
            "wall_s": round(self.wall_s, 1),
            "uploads_per_s": round(self.uploads / self.wall_s, 1) if self.wall_s else None,
            "mb_sent": round(self.bytes_sent / 1e6, 1),
            "input_sizes_bytes": self.inputs,
            "runner_exit_status": self.runner_exit_status,
        }


class ThumbnailWatch(threading.Thread):
    """Lists `thumbnails/` on the emulator every WATCH_EVERY_S and notes when each name has
    all its renditions."""

    def __init__(self, service: RunnerProcess) -> None:
        super().__init__(daemon=True)
        self.s3 = service.client("s3")
        self.bucket = service.resource("buckets", IMAGES_BUCKET)
        self.ready_at: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        paginator = self.s3.get_paginator("list_objects_v2")
        while not self._halt.wait(WATCH_EVERY_S):
            seen: dict[str, int] = {}
            for page in paginator.paginate(Bucket=self.bucket, Prefix="thumbnails/"):
                for obj in page.get("Contents", []):
                    rendition, _, name = obj["Key"].removeprefix("thumbnails/").partition("/")
                    if rendition in RENDITIONS:
                        seen[name] = seen.get(name, 0) + 1
            now = time.monotonic()
            for name, count in seen.items():
                if count == len(RENDITIONS):
                    self.ready_at.setdefault(name, now)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


def depths(service: RunnerProcess) -> tuple[int, int]:
    """Messages held by (the job queue, its dead-letter queue)."""
    sqs = service.client("sqs")
    return (
        queue_depth(sqs, service.resource("queues", JOB_QUEUE)),
        queue_depth(sqs, service.resource("queues", DEAD_LETTER_QUEUE)),
    )


def run(
    service: RunnerProcess,
    uploads: int,
    clients: int,
    settle_timeout_s: float = 300.0,
    progress: Callable[[str], None] = lambda line: None,
) -> Report:
    inputs = mixed_inputs()
    report = Report(uploads, clients, inputs={label: len(data) for label, data, _ in inputs})
    sent_at: dict[str, float] = {}
    kept: dict[str, str] = {}  # image id -> name
    deleted: dict[str, str] = {}
    lock = threading.Lock()
    session_local = threading.local()

    def count(route: str, status: int) -> None:
        with lock:
            counts = report.other_statuses.setdefault(route, {})
            counts[status] = counts.get(status, 0) + 1

    def one(index: int) -> None:
        label, data, content_type = inputs[index % len(inputs)]
        session = getattr(session_local, "session", None)
        if session is None:
            session = session_local.session = requests.Session()
        started = time.monotonic()
        response = session.post(
            f"{service.url}/upload",
            data=data,
            headers={"Content-Type": content_type, "X-Filename": f"{label}-{index}"},
            timeout=120,
        )
        elapsed = time.monotonic() - started
        with lock:
            report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
            report.upload_s.append(elapsed)
            report.bytes_sent += len(data)
        if response.status_code != 201:
            return
        image = response.json()
        count("feed", session.get(f"{service.url}/images?limit=30", timeout=60).status_code)
        status_url = f"{service.url}/images/{image['id']}"
        count("get", session.get(status_url, timeout=60).status_code)
        when = index % 10
        if when == DELETE_WHEN_READY:
            deadline = time.monotonic() + READY_WAIT_S
            while time.monotonic() < deadline:
                looked = session.get(status_url, timeout=60)
                count("get", looked.status_code)
                if looked.status_code != 200 or looked.json()["status"] != "pending":
                    break
                time.sleep(0.2)
        if when in (DELETE_AT_ONCE, DELETE_WHEN_READY):
            token = {"X-Delete-Token": image["delete_token"]}
            gone = session.delete(status_url, headers=token, timeout=60)
            count("delete", gone.status_code)
            if gone.status_code == 204:
                with lock:
                    deleted[image["id"]] = image["name"]
                return
        with lock:
            kept[image["id"]] = image["name"]
            sent_at[image["name"]] = started

    watch = ThumbnailWatch(service)
    watch.start()
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(one, range(uploads)))
        progress(f"{uploads} uploads answered in {time.monotonic() - began:.1f} s; waiting")
        try:
            poll(
                lambda: all(name in watch.ready_at for name in sent_at),
                settle_timeout_s,
                "every thumbnail",
                every_s=0.2,
            )
            poll(lambda: depths(service) == (0, 0), 60, "an empty queue and DLQ", every_s=0.2)
        except TimeoutError as error:
            progress(str(error))
    finally:
        watch.stop()
    report.wall_s = time.monotonic() - began
    report.ready_s = [watch.ready_at[n] - t for n, t in sent_at.items() if n in watch.ready_at]
    report.missing_thumbnails = sorted(n for n in sent_at if n not in watch.ready_at)
    report.final_depths = depths(service)
    report.deleted = len(deleted)
    report.leftovers = end_state_violations(service, kept, deleted)
    return report


def end_state_violations(
    service: RunnerProcess, kept: dict[str, str], deleted: dict[str, str]
) -> list[str]:
    """What the bucket and the table hold that they should not, or lack: every kept image has
    its ready record, its original and each thumbnail; a deleted one has nothing left; and
    no object belongs to no record."""
    s3, dynamodb = service.client("s3"), service.client("dynamodb")
    bucket = service.resource("buckets", IMAGES_BUCKET)
    table = service.resource("tables", CATALOGUE_TABLE)
    keys = set(object_keys(s3, bucket))
    records: dict[str, str] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            records[item["id"]["S"]] = item["status"]["S"]
    problems = []
    for image_id, name in kept.items():
        if records.get(image_id) != "ready":
            problems.append(f"{image_id}: record {records.get(image_id)!r}, not ready")
        wanted = {
            f"originals/{name}",
            *(f"thumbnails/{r}/{name}{ext}" for r in RENDITIONS for ext in ("", ".webp")),
        }
        problems.extend(f"{image_id}: {key} is missing" for key in sorted(wanted - keys))
    for image_id in deleted:
        if image_id in records:
            problems.append(f"{image_id}: deleted, but its record is {records[image_id]!r}")
        problems.extend(
            f"{image_id}: deleted, but {key} is left" for key in keys if image_id in key
        )
    known = set(kept) | set(deleted)
    problems.extend(
        f"{key}: no image of this run" for key in keys if key.split("/")[-1][:26] not in known
    )
    return problems
