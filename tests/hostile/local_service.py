"""The local runner as a separate process (`python -m local_runner --assembly ...`), as a user
starts it, plus clients to its emulator so a test can see the bucket and the queues.

A separate process and not the runner in-process: moto's in-process mock (used by the handler
tests in the same pytest session) and an in-process moto server share one set of backends.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import requests
from botocore.config import Config

from tests.hostile.state import object_keys, queue_depth
from tests.support import free_port, launch_runner

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass
class LocalService:
    process: subprocess.Popen[bytes]
    url: str
    endpoint: str
    bucket: str
    queue_url: str
    dlq_url: str
    api_key: str | None
    log_path: Path

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 2}),
        )

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    def keys(self, prefix: str = "") -> list[str]:
        return [k for k in object_keys(self.s3, self.bucket) if k.startswith(prefix)]

    def depths(self) -> tuple[int, int]:
        sqs = self.sqs
        return queue_depth(sqs, self.queue_url), queue_depth(sqs, self.dlq_url)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(self, body: bytes, content_type: str, **headers: str) -> requests.Response:
        return requests.post(
            f"{self.url}/upload",
            data=body,
            headers={"Content-Type": content_type, **headers},
            timeout=60,
        )

    def function_pids(self, handler: str) -> list[int]:
        """The live instance processes of the function with `handler` (from /proc)."""
        pids = []
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(status.read_text().rsplit(")", 1)[1].split()[1])
                if ppid != self.process.pid:
                    continue
                environ = (status.parent / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
            if f"_HANDLER={handler}".encode() in environ:
                pids.append(int(status.parent.name))
        return pids

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _by_logical_id(resources: dict[str, str], prefix: str) -> str:
    (value,) = [value for logical_id, value in resources.items() if logical_id.startswith(prefix)]
    return value


def start(assembly: Path, log_path: Path, *args: str) -> LocalService:
    port = free_port()
    process, state = launch_runner(
        log_path, "--assembly", str(assembly), "--port", str(port), *args
    )
    return LocalService(
        process=process,
        url=state["url"],
        endpoint=state["moto_endpoint"],
        bucket=_by_logical_id(state["buckets"], "StorageImages"),
        queue_url=_by_logical_id(state["queues"], "ProcessingQueue"),
        dlq_url=_by_logical_id(state["queues"], "ProcessingDeadLetterQueue"),
        api_key=state["api_key"],
        log_path=log_path,
    )


@contextlib.contextmanager
def running(assembly: Path, log_path: Path, *args: str) -> Iterator[LocalService]:
    service = start(assembly, log_path, *args)
    try:
        yield service
    finally:
        service.stop()


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
