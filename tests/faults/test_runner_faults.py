"""Faults through the local runner: the worker process killed or hung mid-batch, and
messages that can never succeed. The runner drives the queue as Lambda's SQS event source
does (a failed invocation deletes nothing; messages come back after the visibility timeout;
the redrive policy moves them to the DLQ after maxReceiveCount receives).

Every kill and hang is planned (`local_runner.faults`): the runner's stand-in for the Lambda
runtime strikes just before a given AWS call of a given invocation, so each test states
which invocation dies where, and asserts from the runner's log that it did, on any machine.

The runner serves the synthesized dev stage with test settings: the worker times out after
WORKER_TIMEOUT_S (so a hung worker is cut off in seconds), and every queue's visibility
timeout is short (so a retry comes seconds later, not minutes). For the mid-batch tests the
worker's event source also takes one full batch at a time (one poller, a batching window
long enough to fill it), so the batch a fault strikes is exactly the one the test made.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
BATCH_SIZE = 5  # the template's (tests/infra pins it)
# The batched runner: its one poller gathers a full batch for up to BATCH_WINDOW_S, and a
# message it holds must not come back meanwhile, so its visibility timeout is longer.
BATCH_WINDOW_S = 15
BATCHED_VISIBILITY_S = 20
SETTLE_S = 180.0  # deadline for a whole retry sequence, on a busy machine


def patched_assembly(assembly: Path, out: Path, edit: Callable[[str, dict[str, Any]], int]) -> Path:
    """A copy of `assembly` with `edit(type, properties)` applied to every resource; the
    edits must touch exactly one resource (`edit` returns how many it changed)."""
    shutil.copytree(assembly, out)
    patched = 0
    for path in out.glob("*.template.json"):
        template = json.loads(path.read_text())
        for resource in template.get("Resources", {}).values():
            patched += edit(resource.get("Type", ""), resource.setdefault("Properties", {}))
        path.write_text(json.dumps(template))
    assert patched >= 1, f"nothing patched in {assembly}"
    return out


def worker_times_out(kind: str, props: dict[str, Any]) -> int:
    """Only for fault tests: a worker that hangs must be cut off in seconds, not a minute."""
    if kind == "AWS::Lambda::Function" and props.get("Handler") == WORKER:
        props["Timeout"] = WORKER_TIMEOUT_S
        return 1
    return 0


def one_full_batch_at_a_time(kind: str, props: dict[str, Any]) -> int:
    """One poller, which waits for a full batch: a batch is exactly BATCH_SIZE messages."""
    if kind == "AWS::Lambda::EventSourceMapping":
        assert props["BatchSize"] == BATCH_SIZE
        props["MaximumBatchingWindowInSeconds"] = BATCH_WINDOW_S
        props["ScalingConfig"] = {"MaximumConcurrency": 1}
        return 1
    return worker_times_out(kind, props)


def start_runner(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    edit: Callable[[str, dict[str, Any]], int],
    visibility_s: int,
) -> Iterator[RunnerProcess]:
    (dev,) = synthesized("dev")
    work = tmp_path_factory.mktemp(name)
    with harness.start(
        "--assembly",
        str(patched_assembly(dev, work / "assembly", edit)),
        "--visibility-timeout-override",
        str(visibility_s),
        "--fault-plan",
        str(work / "faults.json"),
        log=work / "runner.log",
    ) as runner:
        yield runner


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    yield from start_runner(tmp_path_factory, "faults-runner", worker_times_out, VISIBILITY_S)


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    yield from start_runner(
        tmp_path_factory, "faults-batched", one_full_batch_at_a_time, BATCHED_VISIBILITY_S
    )


def photo_png(seed: int) -> bytes:
    """A small photo-like PNG, a different one per seed."""
    image = Image.radial_gradient("L").resize((600, 400)).convert("RGB")
    image.putpixel((seed % 600, 0), (seed % 256, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload_many(service: RunnerProcess, count: int) -> list[str]:
    names = []
    for seed in range(count):
        response = post(service, photo_png(seed), "image/png")
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


def outcomes(service: RunnerProcess, plan: str) -> list[str]:
    """Each planned invocation's outcome, without the instance's number."""
    return [re.sub(r"^\S+#\d+ ", "", line) for line in service.fault_outcomes(plan)]


def jobs_done_before_the_fault(service: RunnerProcess, plan: str) -> int:
    """How many jobs the worker finished between the plan's arming (logged as its first
    invocation starts) and its strike."""
    log = service.log_text()
    armed = log.index(f"fault plan {plan!r} armed")
    return log[armed : log.index(f"FAULT {plan}:", armed)].count('"job done"')


@pytest.mark.parametrize(
    ("action", "error"), [("kill", "Runtime.ExitError"), ("hang", "Sandbox.Timedout")]
)
def test_worker_struck_mid_batch_loses_nothing(
    batched: RunnerProcess, action: str, error: str
) -> None:
    """A batch of five jobs; the worker dies (killed, or hung until its timeout) as the third
    job reads its original, two jobs done and three not started. Lambda retries the whole
    batch: every image ends ready, and nothing is left on either queue."""
    plan = f"{action}-mid-batch"
    # Each job reads its original once, first: the third GetObject starts the third job.
    batched.arm_faults(
        plan,
        {
            "function": WORKER,
            "invocation": 1,
            "call": "s3.GetObject",
            "occurrence": 3,
            "action": action,
        },
    )
    names = upload_many(batched, BATCH_SIZE)
    statuses = settle(batched, names)
    assert outcomes(batched, plan) == [
        f"invocation 1 struck: {action} at s3.GetObject #3 ({error})"
    ]
    assert jobs_done_before_the_fault(batched, plan) == 2
    assert statuses == dict.fromkeys(names, "ready")
    assert depths(batched) == (0, 0)


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


def killed_at_every_first_write(service: RunnerProcess, plan: str) -> None:
    """From now on every worker invocation is killed as it first writes to the bucket: after
    its decode and render, as an out-of-memory kill or a timeout would end it."""
    service.arm_faults(
        plan,
        {
            "function": WORKER,
            "invocation": "every",
            "call": "s3.PutObject",
            "occurrence": 1,
            "action": "kill",
        },
    )


def every_delivery_struck(service: RunnerProcess, plan: str) -> None:
    """The plan struck every delivery of the one message, and missed none."""
    assert outcomes(service, plan) == [
        f"invocation {n} struck: kill at s3.PutObject #1 (Runtime.ExitError)"
        for n in range(1, MAX_RECEIVE_COUNT + 1)
    ]


def test_upload_whose_worker_dies_on_every_try_ends_thumbnail_failed(
    service: RunnerProcess,
) -> None:
    """The invariant at its edge: a 201 upload whose worker is killed after rendering, on
    every delivery, lands in the DLQ; its status must then say ThumbnailFailed, not
    ThumbnailPending forever. The worker's last try marks the image failed before it renders,
    since nothing runs after such a kill."""
    dead_before = depths(service)[1]
    plan = "upload-killed-every-try"
    killed_at_every_first_write(service, plan)
    try:
        response = post(service, photo_png(0), "image/png")
        assert response.status_code == 201, response.text
        name = response.json()["name"]
        poll(
            lambda: depths(service) == (0, dead_before + 1),
            SETTLE_S,
            "the job to reach the DLQ",
        )
    finally:
        service.arm_faults("none")
    every_delivery_struck(service, plan)
    status = thumbnail_status(service, name)
    empty_dead_letters(service)
    assert status == "ThumbnailFailed"


def test_a_direct_upload_whose_worker_dies_on_every_try_ends_rejected(
    service: RunnerProcess,
) -> None:
    """The same edge for a direct upload: its ticket must not stay `uploading` forever. The
    last try marks it rejected before it decodes; the bytes expire with incoming/."""
    dead_before = depths(service)[1]
    data = photo_png(1)
    ticket = requests.post(
        f"{service.url}/uploads",
        json={"filename": "photo.png", "content_type": "image/png", "size": len(data)},
        timeout=30,
    ).json()
    plan = "direct-upload-killed-every-try"
    killed_at_every_first_write(service, plan)
    try:
        stored = requests.post(
            ticket["upload"]["url"],
            data=ticket["upload"]["fields"],
            files={"file": ("photo.png", data, "image/png")},
            timeout=60,
        )
        assert stored.status_code == 204, stored.text
        poll(
            lambda: depths(service) == (0, dead_before + 1),
            SETTLE_S,
            "the upload's event to reach the DLQ",
        )
    finally:
        service.arm_faults("none")
    every_delivery_struck(service, plan)
    record = requests.get(f"{service.url}/images/{ticket['id']}", timeout=30).json()
    empty_dead_letters(service)
    assert (record["status"], record["error"]["code"]) == ("rejected", "InvalidImage")
