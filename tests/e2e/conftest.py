"""The local runner, started as `make local` starts it, on a free port, for the e2e tests."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from tests.local_runner.assemblies import synthesized
from tests.support import free_port, launch_runner

PROJECT = Path(__file__).resolve().parent.parent.parent
# Short enough that a poison message is retried to the DLQ in seconds, long enough that a
# normal batch on a busy 2-core machine is not handed out twice.
VISIBILITY_TIMEOUT_S = 3
T = TypeVar("T")


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@dataclass
class Runner:
    process: subprocess.Popen[bytes]
    log: Path
    state: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.state["url"])

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.state["moto_endpoint"], region_name="us-east-1"
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as a user would; the exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(1)
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the runner did not stop on SIGINT:\n{self.log_text()[-3000:]}")


def start_runner(tmp: Path, *args: str) -> Runner:
    log = tmp / "runner.log"
    process, state = launch_runner(log, *args)
    return Runner(process, log, state)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """The dev stage, synthesized as `make local` does it, served on a free port."""
    (assembly,) = synthesized("dev")
    runner = start_runner(
        tmp_path_factory.mktemp("dev-runner"),
        "--assembly",
        str(assembly),
        "--port",
        str(free_port()),
        "--visibility-timeout-override",
        str(VISIBILITY_TIMEOUT_S),
    )
    yield runner
    assert runner.stop() == 0
