"""Faults through the local runner: the worker process killed or hung mid-batch, and
messages that can never succeed. The runner drives the queue as Lambda's SQS event source
does (a failed invocation deletes nothing; messages come back after the visibility timeout;
the redrive policy moves them to the DLQ after maxReceiveCount receives).

The runner serves the synthesized dev stage with two test settings: the worker times out
after WORKER_TIMEOUT_S (so a hung worker is cut off in seconds) and every queue's visibility
timeout is VISIBILITY_S (so a retry comes seconds later, not minutes).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from image_service import records
from PIL import Image

from local_runner import harness
from local_runner.harness import RunnerProcess, poll
from tests.local_runner.assemblies import synthesized
from tests.support import (
    catalogue,
    dead_letter_queue,
    depths,
    images_bucket,
    job_queue,
    post,
)

pytestmark = pytest.mark.slow  # drives the local runner

WORKER = "image_service.thumbnail_worker.handler"
WORKER_TIMEOUT_S = 2
VISIBILITY_S = 3
MAX_RECEIVE_COUNT = 5  # the template's redrive policy (tests/infra pins it at >= 5)
SETTLE_S = 180.0  # deadline for a whole retry sequence: 5 receives x 3 s, on a busy machine


def with_function_timeout(assembly: Path, out: Path, handler: str, timeout_s: int) -> Path:
    """A copy of `assembly` where the function with `handler` times out after `timeout_s`.

    Only for fault tests: a worker that hangs must be cut off in seconds, not a minute.
    """
    shutil.copytree(assembly, out)
    patched = 0
    for path in out.glob("*.template.json"):
        template = json.loads(path.read_text())
        for resource in template.get("Resources", {}).values():
            props = resource.get("Properties", {})
            if resource.get("Type") == "AWS::Lambda::Function" and props.get("Handler") == handler:
                props["Timeout"] = timeout_s
                patched += 1
        path.write_text(json.dumps(template))
    assert patched == 1, f"{patched} functions with handler {handler} in {assembly}"
    return out


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    (dev,) = synthesized("dev")
    work = tmp_path_factory.mktemp("faults-runner")
    assembly = with_function_timeout(dev, work / "assembly", WORKER, WORKER_TIMEOUT_S)
    with harness.start(
        "--assembly",
        str(assembly),
        "--visibility-timeout-override",
        str(VISIBILITY_S),
        log=work / "runner.log",
    ) as runner:
        yield runner


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


class Saboteur(threading.Thread):
    """Sends `signum` to every worker instance that is busy, at most `limit` times.

    An instance is hit once it has used `busy_ticks` of CPU (clock ticks, 1/100 s) since it
    was last idle, or, if it never was (a fresh instance, handed work as soon as it is up),
    once its CPU time passes both that and `STARTUP_TICKS`: so it is running a batch, not
    still importing its handler (a kill at start-up is a failed init, not a death mid-batch).
    A large `busy_ticks` is a death deep inside a long render, as an out-of-memory kill is.
    Idle means no CPU time for `IDLE_S`: on a loaded machine a busy process also goes without
    a tick between two looks, which is no pause in its work.
    """

    IDLE_S = 0.3
    STARTUP_TICKS = 60  # the worker imports in about 0.3 s of CPU

    def __init__(
        self, service: RunnerProcess, signum: int, limit: int | None = None, busy_ticks: int = 1
    ) -> None:
        super().__init__(daemon=True)
        self.service, self.signum, self.limit = service, signum, limit
        self.busy_ticks = busy_ticks
        self.hits = 0
        self._halt = threading.Event()
        self._streak_start: dict[int, int] = {}  # CPU ticks when it was last idle
        self._seen: dict[int, tuple[int, float]] = {}  # ticks, when they last advanced

    def run(self) -> None:
        while not self._halt.wait(0.02):
            now = time.monotonic()
            for pid in self.service.function_pids(WORKER):
                ticks = cpu_ticks(pid)
                if ticks is None:
                    continue
                previous, advanced = self._seen.get(pid, (ticks, now))
                if ticks != previous:
                    advanced = now
                elif now - advanced >= self.IDLE_S:
                    self._streak_start[pid] = ticks
                self._seen[pid] = (ticks, advanced)
                start = self._streak_start.get(pid)
                busy = (
                    ticks - start >= self.busy_ticks
                    if start is not None
                    else ticks >= max(self.busy_ticks, self.STARTUP_TICKS)
                )
                if busy and (self.limit is None or self.hits < self.limit):
                    os.kill(pid, self.signum)
                    self.hits += 1
                    self._seen.pop(pid)
                    self._streak_start.pop(pid, None)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def gradient_png(width: int, height: int, seed: int) -> bytes:
    """Cheap to send (smooth, compresses well), not free to decode: keeps a worker busy."""
    image = Image.radial_gradient("L").resize((width, height)).convert("RGB")
    image.putpixel((seed % width, 0), (seed % 256, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload_many(service: RunnerProcess, count: int) -> list[str]:
    names = []
    for seed in range(count):
        response = post(service, gradient_png(3000, 2000, seed), "image/png")
        assert response.status_code == 201, response.text
        names.append(response.json()["name"])
    return names


def thumbnail_status(service: RunnerProcess, name: str) -> str:
    response = requests.get(f"{service.url}/download-thumbnail/{name}", timeout=30)
    if response.status_code == 200:
        return "ready"
    return str(response.json()["error"]["code"])


def settle(service: RunnerProcess, names: list[str]) -> dict[str, str]:
    """Wait until nothing is queued or in flight, then each name's thumbnail status."""
    poll(lambda: depths(service)[0] == 0, SETTLE_S, "the queue to drain")
    return {name: thumbnail_status(service, name) for name in names}


def test_worker_killed_mid_batch_loses_nothing(service: RunnerProcess) -> None:
    saboteur = Saboteur(service, signal.SIGKILL, limit=1)
    saboteur.start()
    try:
        names = upload_many(service, 6)
        poll(lambda: saboteur.hits == 1, 30, "a worker instance to be killed mid-batch")
    finally:
        saboteur.stop()
    statuses = settle(service, names)
    assert statuses == dict.fromkeys(names, "ready")
    assert depths(service) == (0, 0)
    assert "(Runtime.ExitError)" in service.log_text()


def test_worker_hung_mid_batch_is_timed_out_and_retried(service: RunnerProcess) -> None:
    saboteur = Saboteur(service, signal.SIGSTOP, limit=1)
    saboteur.start()
    try:
        names = upload_many(service, 4)
        poll(lambda: saboteur.hits == 1, 30, "a worker instance to hang mid-batch")
    finally:
        saboteur.stop()
    statuses = settle(service, names)
    assert statuses == dict.fromkeys(names, "ready")
    assert depths(service) == (0, 0)
    assert "(Sandbox.Timedout)" in service.log_text()


def test_poison_messages_end_in_the_dlq_the_alarm_watches(service: RunnerProcess) -> None:
    s3, sqs = service.client("s3"), service.client("sqs")
    bucket = images_bucket(service)
    queue_url, dlq_url = job_queue(service), dead_letter_queue(service)
    undecodable = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AB.jpg"
    never_uploaded = "01JDXK9V3Q8ZJ4W6M2T5R7Y0AC.png"
    s3.put_object(Bucket=bucket, Key=f"originals/{undecodable}", Body=b"\xff\xd8\xffjunk")
    for name in (undecodable, never_uploaded):  # catalogued, as an upload would have
        catalogue(service).create(
            records.pending_record(
                image_id=name[:26],
                name=name,
                content_type="image/jpeg",
                size=7,
                width=1,
                height=1,
                filename="",
                token_hash=records.token_hash("t"),
            )
        )
    bodies = [
        json.dumps({"v": 1, "bucket": bucket, "key": f"originals/{name}", "id": name[:26]})
        for name in (undecodable, never_uploaded)
    ] + ["this is not a job"]
    dead_before = depths(service)[1]
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    # Undecodable: marked failed on the first try, long before the DLQ.
    poll(
        lambda: thumbnail_status(service, undecodable) == "ThumbnailFailed",
        30,
        "the undecodable original to be marked failed",
    )
    poll(
        lambda: depths(service) == (0, dead_before + 3),
        SETTLE_S,
        "all three messages to reach the DLQ",
    )

    # The DLQ alarm watches CloudWatch's ApproximateNumberOfMessagesVisible, which is this
    # queue attribute (ApproximateNumberOfMessages) as a metric.
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == dead_before + 3
    received = sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        VisibilityTimeout=0,
    )["Messages"]
    assert sorted(bodies) == sorted(m["Body"] for m in received if m["Body"] in bodies)
    # Tried maxReceiveCount times (the receive that moves it to the DLQ counts one more).
    assert min(int(m["Attributes"]["ApproximateReceiveCount"]) for m in received) >= (
        MAX_RECEIVE_COUNT
    )
    # The missing original was retried as a transient fault, and given up on at the last try.
    assert thumbnail_status(service, never_uploaded) == "ThumbnailFailed"
    record = catalogue(service).get(never_uploaded[:26])
    assert record is not None
    assert record["error"]["code"] == "RenderFailed"
    for message in received:
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])


def empty_dead_letters(service: RunnerProcess) -> None:
    """What PurgeQueue does, without its one-a-minute limit (several tests empty the DLQ)."""
    sqs, url = service.client("sqs"), dead_letter_queue(service)
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
    ).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def heavy_webp() -> bytes:
    """50 MP with alpha, small to send: its render takes seconds of CPU in the worker."""
    image = Image.radial_gradient("L").resize((8000, 6000))
    rgba = Image.merge("RGBA", (image, image, image, image.point(lambda v: 255 - v)))
    out = io.BytesIO()
    rgba.save(out, "WEBP", quality=10, method=0)
    return out.getvalue()


def test_upload_whose_worker_dies_on_every_try_ends_thumbnail_failed(
    service: RunnerProcess,
) -> None:
    """The invariant at its edge: a 201 upload whose worker is killed mid-render on every
    delivery (as an out-of-memory kill or a timeout would) lands in the DLQ; its status must
    then say ThumbnailFailed, not ThumbnailPending forever. The worker's last try marks the
    image failed before it renders, since nothing runs after such a kill."""
    dead_before = depths(service)[1]
    response = post(service, heavy_webp(), "image/webp")
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    # 1 s of CPU without a pause: past the worker's start-up (about 0.5 s) and its first
    # requests, well inside the render of 50 MP.
    saboteur = Saboteur(service, signal.SIGKILL, busy_ticks=100)
    saboteur.start()
    try:
        poll(
            lambda: depths(service) == (0, dead_before + 1),
            SETTLE_S,
            "the job to reach the DLQ",
        )
    finally:
        saboteur.stop()
    status = thumbnail_status(service, name)
    empty_dead_letters(service)
    assert status == "ThumbnailFailed"


def test_a_direct_upload_whose_worker_dies_on_every_try_ends_rejected(
    service: RunnerProcess,
) -> None:
    """The same edge for a direct upload: its ticket must not stay `uploading` forever. The
    last try marks it rejected before it decodes; the bytes expire with incoming/."""
    dead_before = depths(service)[1]
    data = heavy_webp()
    ticket = requests.post(
        f"{service.url}/uploads",
        json={"filename": "heavy.webp", "content_type": "image/webp", "size": len(data)},
        timeout=30,
    ).json()
    saboteur = Saboteur(service, signal.SIGKILL, busy_ticks=100)
    saboteur.start()
    try:
        stored = requests.post(
            ticket["upload"]["url"],
            data=ticket["upload"]["fields"],
            files={"file": ("heavy.webp", data, "image/webp")},
            timeout=60,
        )
        assert stored.status_code == 204, stored.text
        poll(
            lambda: depths(service) == (0, dead_before + 1),
            SETTLE_S,
            "the upload's event to reach the DLQ",
        )
    finally:
        saboteur.stop()
    record = requests.get(f"{service.url}/images/{ticket['id']}", timeout=30).json()
    empty_dead_letters(service)
    assert (record["status"], record["error"]["code"]) == ("rejected", "InvalidImage")
