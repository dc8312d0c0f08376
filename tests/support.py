"""Helpers shared by the tests that start servers on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RUNNER_START_TIMEOUT_S = 120.0
T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def poll(check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """`check()`'s first truthy value, polled until `timeout_s`; fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def launch_runner(log_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """`python -m local_runner *args`, logging to `log_path`, once it says it is ready: the
    process and what its `--state-file` tells (URL, API key, moto endpoint, resource names)."""
    state_file = log_path.with_suffix(".state.json")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_runner", "--state-file", str(state_file), *args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the local runner exited:\n{log_path.read_text()[-3000:]}")
        return state_file.exists() and "Ready in" in log_path.read_text(errors="replace")

    try:
        poll(ready, RUNNER_START_TIMEOUT_S, "the local runner to start")
    except BaseException:
        process.kill()
        process.wait()
        raise
    state: dict[str, Any] = json.loads(state_file.read_text())
    return process, state
